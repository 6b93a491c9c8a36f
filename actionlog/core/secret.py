"""A secret value that never shows itself: ``repr()``/``str()`` print ``***``, ``reveal()`` gives it."""

from __future__ import annotations

__all__ = ["Secret"]


class Secret:
    """A password or key from the settings. Not a dataclass on purpose: ``dataclasses.asdict``
    and ``repr`` of the settings that hold it copy the object, never the text inside."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: only for the client library that sends it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))
