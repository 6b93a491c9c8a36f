"""A bounded pool of store clients, so that concurrent users never queue behind each other's
queries (one client runs one query at a time) and their number stays capped."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from actionlog.core.errors import StoreError, StoreUnavailable
from actionlog.store.clickhouse import ClickHouseStore

__all__ = ["PoolExhausted", "StorePool"]


class PoolExhausted(StoreError):
    """Every client of the pool is in use (the caller answers 429)."""


class StorePool:
    """Up to ``size`` clients made by ``factory``, handed out one per user.

    Args:
        factory: makes a connected client (blocking).
        size: the most clients at once.
    """

    def __init__(self, factory: Callable[[], ClickHouseStore], size: int) -> None:
        self._factory = factory
        self._free: list[ClickHouseStore] = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._closed = False
        self.size = size

    @contextlib.contextmanager
    def client(self, wait: float = 0.0) -> Iterator[ClickHouseStore]:
        """A client for the duration of the block (blocking: call it from a worker thread).

        Raises:
            PoolExhausted: none became free within ``wait`` seconds.
        """
        acquired = self._slots.acquire(timeout=wait) if wait > 0 else self._slots.acquire(blocking=False)
        if not acquired:
            raise PoolExhausted(f"all {self.size} store clients are busy")
        store: ClickHouseStore | None = None
        try:
            with self._lock:
                store = self._free.pop() if self._free else None
            if store is None:
                store = self._factory()
            yield store
        except StoreUnavailable:
            if store is not None:
                store.close()  # a client that lost its store is not reused
                store = None
            raise
        finally:
            if store is not None:
                with self._lock:
                    keep = not self._closed
                    if keep:
                        self._free.append(store)
                if not keep:
                    store.close()  # returned after close(): nobody else would close it
            self._slots.release()

    def close(self, wait: float = 10.0) -> None:
        """Close every client: the free ones now, one in use when it is returned. Waits up to
        ``wait`` seconds for those in use (an embedded engine is let go only once all are closed)."""
        with self._lock:
            self._closed = True
        deadline = time.monotonic() + wait
        taken = 0
        while taken < self.size and self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            taken += 1
        with self._lock:
            free, self._free = self._free, []
        for store in free:
            store.close()
        for _ in range(taken):
            self._slots.release()
