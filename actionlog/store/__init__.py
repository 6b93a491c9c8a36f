"""Store access: the one way every part of actionlog reaches ClickHouse.

`open_store` decides, in one place, how this process reaches the store: a ClickHouse server
directly; the embedded engine directly when no other process holds it; or, when a running worker
holds the embedded store, through that worker (`WorkerStore`). Both kinds offer the `Store`
operations, so report, export, tokens and erasure code never know which one they have.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from actionlog.core.errors import StoreUnavailable
from actionlog.core.settings import ClickHouseSettings
from actionlog.store.clickhouse import STREAM_CHUNK, ClickHouseStore
from actionlog.store.holder import StoreLock, read_link
from actionlog.store.remote import WorkerStore

__all__ = ["STREAM_CHUNK", "ClickHouseStore", "Reader", "Store", "WorkerStore", "open_store", "read_all"]

log = logging.getLogger(__name__)


class Reader(Protocol):
    def read(self, size: int = ...) -> bytes: ...


class Store(Protocol):
    """What every user of the store may do. Every method may raise `StoreError`."""

    settings: ClickHouseSettings

    @property
    def log_table(self) -> str:
        """The quoted, qualified log table."""
        ...

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None: ...

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a query, as tuples of numbers and strings."""
        ...

    def clock_ms(self) -> int:
        """The store's clock (epoch ms), read while no insert of the holding process is in flight."""
        ...

    def stream(self, sql: str, parameters: dict[str, Any], fmt: str) -> AbstractContextManager[Reader]:
        """The query's output in ClickHouse format ``fmt``, to read in `STREAM_CHUNK` pieces."""
        ...

    def close(self) -> None: ...


def open_store(settings: ClickHouseSettings, *, role: str = "cli", wait: float = 15.0) -> Store:
    """Open the store the way this process can reach it.

    Args:
        settings: where the store is.
        role: who opens it (shown to others waiting for the embedded store).
        wait: seconds to wait while the embedded store is held by a process that serves no
            local clients (another CLI command, or a worker still starting).

    Raises:
        StoreUnavailable: the store cannot be reached, or stayed held.
    """
    if not settings.embedded:
        return ClickHouseStore(settings).connect()
    lock = StoreLock(settings.chdb_path)
    deadline = time.monotonic() + wait
    while True:
        if lock.try_acquire(role):
            try:
                return ClickHouseStore(settings, on_close=lock.release).connect()
            except BaseException:
                lock.release()
                raise
        link = read_link(settings.chdb_path)
        if link is not None:
            return WorkerStore(settings, link)
        if time.monotonic() >= deadline:
            raise StoreUnavailable(
                f"the embedded store {settings.chdb_path} is held by {lock.holder()}, which serves no "
                "local clients; try again when it is done"
            )
        time.sleep(0.2)


def read_all(store: Store, sql: str, parameters: dict[str, Any], fmt: str) -> Iterator[bytes]:
    """Yield a query's output in `STREAM_CHUNK` pieces (blocking; the stream closes at the end)."""
    with store.stream(sql, parameters, fmt) as reader:
        while chunk := reader.read(STREAM_CHUNK):
            yield chunk
