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
from actionlog.sink.health import SinkHealth
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
    """Context manager: hold and serve the store at ``settings``; yields a `Served`.

    Args:
        settings: the store.
        pool_size: store clients of the downloads (default: ``http.max_downloads``).
        http: the HTTP settings and limits.
        health: what ``/readyz`` reports (a sink's health), if anything.
    """

    def __init__(
        self,
        settings: ClickHouseSettings,
        *,
        pool_size: int | None = None,
        http: HttpSettings | None = None,
        health: SinkHealth | None = None,
    ) -> None:
        self.settings = settings
        self.http = http if http is not None else HttpSettings()
        self.health = health
        self.metrics = Metrics()
        self.token = ""
        """An admin token, once served."""
        self.lock = StoreLock(settings.chdb_path)
        self.gate = gate = threading.Lock()
        size = pool_size if pool_size is not None else self.http.max_downloads
        self.pool = StorePool(lambda: ClickHouseStore(settings, gate=gate).connect(), size)
        self.local_pool = StorePool(lambda: ClickHouseStore(settings, gate=gate).connect(), 4)
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
        app = build_public_app(self.pool, self.metrics, self.http, health=self.health)
        public = HttpServer(app, "127.0.0.1", 0, self.http, self.metrics)
        key = new_key()
        local_app = build_local_app(self.local_pool, key, write_timeout=self.settings.read_timeout)
        local = HttpServer(local_app, "127.0.0.1", 0, self.http)
        self.servers = [public, local]
        public_url = str(self._run(public.start()))
        local_url = str(self._run(local.start()))
        self.lock.publish(local_url, key, public_url)
        self.token = registry(self.store).create(f"served-admin-{uuid.uuid4().hex[:8]}", "admin", ())
        return Served(public_url, self.store, self.token)

    def __exit__(self, *exc: object) -> None:
        self.lock.withdraw()
        for server in self.servers:
            self._run(server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()
        self.pool.close()
        self.local_pool.close()
        if self.store is not None:
            self.store.close()
        self.lock.release()
