"""``actionlog worker``: one process running the normalizer, the sink and the HTTP server.

The normalizer is the Faust agent (default) or the same step on a plain aiokafka consumer
(``ACTIONLOG_PROCESSOR_ENGINE=aiokafka``, run without Faust under a small asyncio supervisor).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import faust
from aiokafka.errors import KafkaError

from actionlog.errors import BrokerUnavailable
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


async def serve_http(settings: Settings, store: Store, metrics: Metrics) -> None:
    """Serve reports, exports and /metrics until cancelled; publishes the endpoint file."""
    server = HttpServer(build_http_app(store, metrics), settings.http.host, settings.http.port)
    try:
        url = await server.start()
    except OSError as exc:
        # Normalizing and landing matter more than serving: keep running without HTTP.
        log.error(
            "HTTP server not started on %s:%s (%s); set ACTIONLOG_HTTP_PORT",
            settings.http.host,
            settings.http.port,
            exc,
        )
        await server.stop()
        await asyncio.Event().wait()  # stay up like the other parts, until the worker stops
    store.publish_endpoint(url)
    log.info("HTTP on %s (reports: %s/reports/content-actions-log)", url, url)
    try:
        await asyncio.Event().wait()
    finally:
        store.withdraw_endpoint()
        await server.stop()


def _services(
    settings: Settings, store: Store, metrics: Metrics, codec: AvroCodec, *, sink: bool, http: bool
) -> dict[str, Callable[[], Coroutine[Any, Any, None]]]:
    services: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {}
    if sink:
        services["sink"] = lambda: ClickHouseSink(settings, store, codec, metrics).run()
    if http:
        services["http"] = lambda: serve_http(settings, store, metrics)
    return services


def build_worker_app(settings: Settings, store: Store, *, sink: bool = True, http: bool = True) -> faust.App:
    """The Faust app (normalizer agent) with the sink and HTTP server attached as app tasks."""
    metrics = Metrics()
    codec = AvroCodec()
    app = create_app(settings, metrics, codec)
    for name, factory in _services(settings, store, metrics, codec, sink=sink, http=http).items():
        app.task(_crash_on_error(app, name, factory))
    return app


def _crash_on_error(app: faust.App, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], Any]:
    async def run() -> None:
        try:
            await factory()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the worker must not limp on without one of its parts
            log.exception("%s crashed", name)
            await app.crash(exc)

    run.__name__ = f"run_{name}"
    return run


async def run_plain(settings: Settings, store: Store, *, sink: bool = True, http: bool = True) -> None:
    """The aiokafka engine: normalizer, sink and HTTP as tasks; SIGTERM/SIGINT stop them all."""
    metrics = Metrics()
    codec = AvroCodec()
    factories = _services(settings, store, metrics, codec, sink=sink, http=http)
    factories["normalizer"] = lambda: KafkaNormalizer(settings, metrics, codec).run()
    tasks = {asyncio.create_task(f(), name=name): name for name, f in factories.items()}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stopper and not t.cancelled() and t.exception() is not None]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if failed:
        raise failed[0].exception()  # type: ignore[misc]
    log.info("worker stopped")


def run_worker(settings: Settings, *, loglevel: str = "info", sink: bool = True, http: bool = True) -> None:
    """Create topics and schema, then run until SIGTERM/SIGINT (blocking).

    With the embedded store already held by a live worker, this worker joins as a normalizer only:
    the holder lands the log and serves HTTP (a ClickHouse server lets every worker do all three).
    """
    try:
        created = asyncio.run(ensure_topics(settings.kafka))
    except (KafkaError, OSError) as exc:
        raise BrokerUnavailable(f"Kafka unreachable at {settings.kafka.bootstrap_servers}: {exc}") from None
    if created:
        log.info("created topics: %s", ", ".join(created))
    holder = worker_endpoint(settings.clickhouse)
    if holder is not None and (sink or http):
        log.warning("the embedded store is held by the worker at %s: this worker only normalizes", holder)
        sink = http = False
    store = Store(settings.clickhouse)
    if sink or http:
        store.connect()
        store.ensure_schema()
    try:
        if settings.processor.engine == "aiokafka":
            asyncio.run(run_plain(settings, store, sink=sink, http=http))
            return
        asyncio.set_event_loop(asyncio.new_event_loop())
        app = build_worker_app(settings, store, sink=sink, http=http)
        worker: Any = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
        worker.execute_from_commandline()
    finally:
        store.withdraw_endpoint()
        store.close()
