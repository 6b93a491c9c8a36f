"""``actionlog worker``: one process running the normalizer agent, the sink and the HTTP server."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from actionlog.metrics import Metrics
from actionlog.settings import Settings
from processor.app import create_app
from processor.avro import AvroCodec
from processor.kafka_engine import KafkaNormalizer
from processor.topics import ensure_topics
from query.http import HttpServer, build_http_app
from sink.service import ClickHouseSink
from sink.store import Store, worker_endpoint

log = logging.getLogger(__name__)


def build_worker_app(settings: Settings, store: Store, *, sink: bool = True, http: bool = True) -> faust.App:
    """The Faust app with the sink and HTTP server attached as long-running tasks."""
    metrics = Metrics()
    codec = AvroCodec()
    faust_agent = settings.processor.engine == "faust"
    app = create_app(settings, metrics, codec, agent=faust_agent)

    if not faust_agent:

        @app.task
        async def run_normalizer() -> None:
            try:
                await KafkaNormalizer(settings, metrics, codec).run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("normalizer crashed")
                await app.crash(exc)

    if sink:

        @app.task
        async def run_sink() -> None:
            try:
                await ClickHouseSink(settings, store, codec, metrics).run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the worker must not limp on without its sink
                log.exception("sink crashed")
                await app.crash(exc)

    if http:

        @app.task
        async def run_http() -> None:
            server = HttpServer(build_http_app(store, metrics), settings.http.host, settings.http.port)
            url = await server.start()
            store.publish_endpoint(url)
            log.info("HTTP on %s (reports: %s/reports/content-actions-log)", url, url)
            try:
                await asyncio.Event().wait()
            finally:
                store.withdraw_endpoint()
                await server.stop()

    return app


def run_worker(settings: Settings, *, loglevel: str = "info", sink: bool = True, http: bool = True) -> None:
    """Create topics and schema, then run until SIGTERM/SIGINT (blocking).

    With the embedded store already held by a live worker, this worker joins as a normalizer only:
    the holder lands the log and serves HTTP (a ClickHouse server lets every worker do all three).
    """
    created = asyncio.run(ensure_topics(settings.kafka))
    if created:
        log.info("created topics: %s", ", ".join(created))
    asyncio.set_event_loop(asyncio.new_event_loop())
    holder = worker_endpoint(settings.clickhouse)
    if holder is not None and (sink or http):
        log.warning("the embedded store is held by the worker at %s: this worker only normalizes", holder)
        sink = http = False
    store = Store(settings.clickhouse)
    if sink or http:
        store.connect()
        store.ensure_schema()
    app = build_worker_app(settings, store, sink=sink, http=http)
    worker: Any = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    finally:
        store.withdraw_endpoint()
        store.close()
