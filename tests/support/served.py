"""The worker's HTTP app served from a thread of the test process (for tests without Kafka)."""

from __future__ import annotations

import asyncio
import threading

from actionlog.metrics import Metrics
from query.http import HttpServer, build_http_app
from sink.store import Store


class ServedStore:
    """The worker's HTTP app on a direct Store, served from a thread with its own event loop."""

    def __init__(self, store: Store) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = HttpServer(build_http_app(store, Metrics()), "127.0.0.1", 0)

    def __enter__(self) -> str:
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()
