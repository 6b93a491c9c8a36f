"""A store held the way a worker holds it, served from threads of the test process.

`ServedStore` takes the embedded store's lock, serves the worker's public app (reports) and its
loopback app for local clients, and publishes the link, exactly like `actionlog worker` does, but
without Kafka: a CLI subprocess started meanwhile goes through it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass

from actionlog.access.guard import ensure_access_schema, registry
from actionlog.core.metrics import Metrics
from actionlog.core.settings import ClickHouseSettings, HttpSettings
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.holder import StoreLock, new_key
from actionlog.store.pool import StorePool
from actionlog.store.schema import ensure_log_schema
from actionlog.web.app import build_local_app, build_public_app
from actionlog.web.server import HttpServer

__all__ = ["ServedStore"]


@dataclass
class Served:
    url: str
    """Base URL of the public app."""
    store: ClickHouseStore
    """A client of the test's own on the held store."""
    token: str
    """An admin token (named ``served-admin-…``, a new one each time the store is served)."""


class ServedStore:
    """Context manager: hold and serve the store at ``settings``; yields a `Served`."""

    def __init__(self, settings: ClickHouseSettings, *, pool_size: int = 8, http: HttpSettings | None = None) -> None:
        self.settings = settings
        self.http = http or HttpSettings()
        self.lock = StoreLock(settings.chdb_path)
        self.gate = gate = threading.Lock()
        self.pool = StorePool(lambda: ClickHouseStore(settings, gate=gate).connect(), pool_size)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.servers: list[HttpServer] = []
        self.store: ClickHouseStore | None = None

    def _run(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)  # type: ignore[arg-type]

    def __enter__(self) -> Served:
        if not self.lock.try_acquire("test"):
            raise RuntimeError(f"{self.settings.chdb_path} is held by {self.lock.holder()}")
        self.store = ClickHouseStore(self.settings, gate=self.gate).connect()
        ensure_log_schema(self.store, self.settings.database, self.settings.table)
        ensure_access_schema(self.store)
        self.thread.start()
        public = HttpServer(build_public_app(self.pool, Metrics(), self.http), "127.0.0.1", 0)
        key = new_key()
        local = HttpServer(build_local_app(self.pool, key), "127.0.0.1", 0)
        self.servers = [public, local]
        public_url = str(self._run(public.start()))
        local_url = str(self._run(local.start()))
        self.lock.publish(local_url, key, public_url)
        token = registry(self.store).create(f"served-admin-{uuid.uuid4().hex[:8]}", "admin", ())
        return Served(public_url, self.store, token)

    def __exit__(self, *exc: object) -> None:
        self.lock.withdraw()
        for server in self.servers:
            self._run(server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()
        self.pool.close()
        if self.store is not None:
            self.store.close()
        self.lock.release()
