"""A store that records every statement it runs, for tests (every statement carries the scope)
and the bench (the same statements replayed on the engine directly: the ceiling)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from actionlog.store import Reader, Store

__all__ = ["Recording", "Statement"]


@dataclass(frozen=True)
class Statement:
    sql: str
    params: dict[str, Any]
    fmt: str | None
    """The output format of a streamed statement; None for one read with ``query_rows``."""


@dataclass
class Recording:
    """Wraps a `Store`: reads go through and are recorded; a report changes nothing, so
    ``command`` is refused."""

    store: Store
    statements: list[Statement] = field(default_factory=list)

    @property
    def settings(self) -> Any:
        return self.store.settings

    @property
    def log_table(self) -> str:
        return self.store.log_table

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self.statements.append(Statement(sql, dict(parameters or {}), None))
        return self.store.query_rows(sql, parameters)

    def stream(self, sql: str, parameters: dict[str, Any], fmt: str) -> AbstractContextManager[Reader]:
        self.statements.append(Statement(sql, dict(parameters), fmt))
        return self.store.stream(sql, parameters, fmt)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        raise AssertionError(f"a report changes nothing, yet it ran: {sql[:200]}")

    def clock_ms(self) -> int:
        return self.store.clock_ms()

    def close(self) -> None:
        """The wrapped store stays open: whoever opened it closes it."""
