"""What rows a caller may see: everything (an admin, or the CLI on the store's machine) or the
rows of some panoramas only (a client's token). Every statement a caller can cause carries its
scope as a bound condition (`actionlog.query.sql`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Scope"]


@dataclass(frozen=True)
class Scope:
    """Attributes:
    panoramas: the panorama ids whose rows are visible, or None for every row (main site included).
    """

    panoramas: frozenset[str] | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @classmethod
    def of(cls, panoramas: frozenset[str] | set[str] | tuple[str, ...] | list[str]) -> Scope:
        """Only these panoramas' rows (at least one id, none empty).

        Raises:
            ValueError: no id, or an empty one (the main site is never a client's).
        """
        ids = frozenset(panoramas)
        if not ids or "" in ids:
            raise ValueError("a panorama scope needs at least one non-empty panorama id")
        return cls(ids)

    @property
    def limited(self) -> bool:
        return self.panoramas is not None

    def allows(self, panorama_id: str) -> bool:
        return self.panoramas is None or panorama_id in self.panoramas
