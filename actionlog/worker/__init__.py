"""``actionlog worker``: the normalizer, the sink and the HTTP server.

The normalizer is the Faust agent (default) or the same step on a plain aiokafka consumer
(``ACTIONLOG_PROCESSOR_ENGINE=aiokafka``, run without Faust under a small asyncio supervisor).
It runs in the worker's own process, or, with ``ACTIONLOG_WORKER_PROCESSES=N`` (N > 1), in N
normalizer processes the worker starts and keeps running (`actionlog.worker.processes`).

With the embedded store, the worker that holds it (`actionlog.store.holder.StoreLock`) lands
the log, serves HTTP and answers local clients on a loopback listener; a second worker started
on the same store finds it held by a worker and only normalizes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

from aiokafka.errors import KafkaError

from actionlog.access.guard import ensure_access_schema, registry
from actionlog.core.avro import AvroCodec
from actionlog.core.errors import BrokerUnavailable, ConfigError, StoreUnavailable
from actionlog.core.metrics import Metrics
from actionlog.core.settings import Settings
from actionlog.kafka.failures import explained
from actionlog.kafka.topics import align_retention, ensure_topics
from actionlog.sink.health import SinkHealth
from actionlog.sink.landing import ClickHouseSink
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.erasure import ensure_privacy_schema, load_suppressions
from actionlog.store.erasure_key import with_erasure_key
from actionlog.store.holder import StoreLock, new_key, read_link
from actionlog.store.pool import StorePool
from actionlog.store.schema import apply_retention, ensure_log_schema
from actionlog.web.app import build_local_app, build_public_app
from actionlog.web.server import HttpServer
from actionlog.worker.engines import Service, run_normalizer
from actionlog.worker.processes import normalizers

__all__ = ["run_worker"]

log = logging.getLogger(__name__)

#: How long a worker waits for another process (a CLI command) to let go of the embedded store.
STORE_WAIT = 120.0
#: Concurrent store clients of local clients (the CLI through the loopback listener); downloads
#: have their own (``ACTIONLOG_HTTP_MAX_DOWNLOADS``), so neither waits for the other.
LOCAL_CLIENTS = 4


@dataclass
class Stores:
    """The store clients of a worker: the sink's own, and the two pools of the HTTP routes."""

    sink: ClickHouseStore | None
    downloads: StorePool
    local: StorePool

    def close(self) -> None:
        self.downloads.close()
        self.local.close()
        if self.sink is not None:
            self.sink.close()


def open_stores(settings: Settings, *, sink: bool) -> Stores:
    """Connect the sink's client (creating the schema) and make the HTTP pools.

    Every user gets a client of its own: one client runs one statement at a time (and on a
    server, clients use no session), so an insert never waits behind a download.
    """
    # One gate for every client of the embedded engine in this process: the export's clock is
    # read between inserts (ClickHouseStore.clock_ms).
    gate = threading.Lock()
    first = ClickHouseStore(settings.clickhouse, gate=gate, for_inserts=True).connect()
    try:
        ch = settings.clickhouse
        ensure_log_schema(first, ch.database, ch.table)
        ensure_access_schema(first)
        ensure_privacy_schema(first, ch.database)
        if sink:  # a sink that could not check the suppression list must not start (exit 2)
            erasure = settings.privacy.erasure_key
            load_suppressions(first, ch.database, erasure.reveal().encode() if erasure is not None else None)
        if apply_retention(first, ch.database, ch.table, settings.privacy.retention_days):
            log.info("the table's retention now follows ACTIONLOG_RETENTION_DAYS=%s", settings.privacy.retention_days)
    except BaseException:
        first.close()
        raise
    if not sink:
        first.close()

    def factory() -> ClickHouseStore:
        return ClickHouseStore(settings.clickhouse, gate=gate).connect()

    return Stores(
        first if sink else None,
        StorePool(factory, settings.http.max_downloads),
        StorePool(factory, LOCAL_CLIENTS),
    )


def _check_tokens(settings: Settings, stores: Stores) -> None:
    """Say so when no token exists yet; refuse to serve beyond loopback without one.

    Raises:
        ConfigError: a non-loopback address and no token.
    """
    with stores.local.client(wait=30) as store:
        tokens = registry(store).active()
    if not tokens:
        log.warning(
            "no token exists yet: create the first one with `actionlog tokens create --name admin --admin`"
            " (every data route and the report page need one)"
        )
    if not settings.http.loopback and not tokens:
        raise ConfigError(
            f"refusing to serve on {settings.http.host} (not loopback) without a token: create one first "
            "with `actionlog tokens create --name NAME --admin`, or bind ACTIONLOG_HTTP_HOST=127.0.0.1"
        )


async def serve_http(
    settings: Settings,
    stores: Stores,
    metrics: Metrics,
    lock: StoreLock | None,
    public: bool,
    health: SinkHealth | None,
) -> None:
    """Serve until cancelled: the public app (unless ``public`` is off) and, when this worker holds
    the embedded store, the loopback app for local clients, published in the data directory."""
    servers: list[HttpServer] = []
    try:
        public_url = ""
        if public:
            erasure = settings.privacy.erasure_key
            app = build_public_app(
                stores.downloads,
                metrics,
                settings.http,
                health=health,
                erasure_key=erasure.reveal().encode() if erasure is not None else None,
            )
            server = HttpServer(app, settings.http.host, settings.http.port, settings.http, metrics)
            try:
                public_url = await server.start()
                servers.append(server)
                log.info("HTTP on %s: the report page is %s/ (Reporting > Reports)", public_url, public_url)
            except OSError as exc:
                # Normalizing and landing matter more than serving: keep running without it.
                log.error(
                    "HTTP server not started on %s:%s (%s); set ACTIONLOG_HTTP_PORT",
                    settings.http.host,
                    settings.http.port,
                    exc,
                )
        if lock is not None:
            key = new_key()
            local_app = build_local_app(stores.local, key, write_timeout=settings.clickhouse.read_timeout)
            local = HttpServer(local_app, "127.0.0.1", 0, settings.http)
            local_url = await local.start()
            servers.append(local)
            lock.publish(local_url, key, public_url)
            log.info("local clients (actionlog report/export/...) served on %s", local_url)
        await asyncio.Event().wait()
    finally:
        if lock is not None:
            lock.withdraw()
        for server in servers:
            await server.stop()


def _services(
    settings: Settings,
    metrics: Metrics,
    codec: AvroCodec,
    stores: Stores | None,
    lock: StoreLock | None,
    public_http: bool,
) -> dict[str, Service]:
    services: dict[str, Service] = {}
    if stores is None:
        return services
    sink_store = stores.sink
    health = SinkHealth() if sink_store is not None else None
    if sink_store is not None:
        services["sink"] = lambda: ClickHouseSink(settings, sink_store, codec, metrics, health).run()
    services["http"] = lambda: serve_http(settings, stores, metrics, lock, public_http, health)
    return services


def _hold_store(settings: Settings) -> StoreLock | None:
    """Take the embedded store's lock, waiting (bounded, logged) for a CLI command to let go.

    Returns:
        The held lock, or None when another worker holds the store (this one only normalizes).

    Raises:
        StoreUnavailable: a process that is not a worker kept it past `STORE_WAIT`.
    """
    lock = StoreLock(settings.clickhouse.chdb_path)
    start = time.monotonic()
    deadline = start + STORE_WAIT
    # Said only once the wait is real: a process probing for a live worker (`read_link`) holds the
    # lock for an instant, and that is not worth a line in the log.
    next_note = start + 1.0
    while not lock.try_acquire("worker"):
        if read_link(settings.clickhouse.chdb_path) is not None:
            return None
        now = time.monotonic()
        if now >= deadline:
            raise StoreUnavailable(
                f"the embedded store {settings.clickhouse.chdb_path} stayed held by {lock.holder()} "
                f"for {STORE_WAIT:.0f}s"
            )
        if now >= next_note:
            log.info("waiting for %s to let go of the embedded store", lock.holder())
            next_note = now + 5.0
        time.sleep(0.2)
    lock.withdraw()  # a previous holder's files, if it was killed: stale now
    return lock


def run_worker(settings: Settings, *, loglevel: str = "info", sink: bool = True, http: bool = True) -> None:
    """Create topics and schema, then run until SIGTERM/SIGINT (blocking)."""
    with explained() as failures:
        try:
            created = asyncio.run(ensure_topics(settings.kafka))
            asyncio.run(align_retention(settings.kafka, skip=created))
        except (KafkaError, OSError) as exc:
            raise BrokerUnavailable(
                f"Kafka unreachable at {settings.kafka.bootstrap_servers}: {failures.describe(exc)}"
            ) from None
    if created:
        log.info("created topics: %s", ", ".join(created))
    lock: StoreLock | None = None
    holds = True
    if settings.clickhouse.embedded and (sink or http):
        lock = _hold_store(settings)
        if lock is None:
            log.warning("the embedded store is held by another worker: this worker only normalizes")
            holds = False
    elif settings.clickhouse.embedded:
        holds = False
    stores: Stores | None = None
    try:
        if holds and (sink or http):
            settings = with_erasure_key(settings, create=True)  # the embedded store's, unless set
            stores = open_stores(settings, sink=sink)
            if http:
                _check_tokens(settings, stores)
        metrics = Metrics()
        services = _services(settings, metrics, AvroCodec(), stores, lock, http)
        separate = settings.worker.processes > 1
        if separate:
            services["normalizers"] = normalizers(settings, metrics, loglevel)
        run_normalizer(settings, metrics, services, loglevel=loglevel, normalize=not separate)
    finally:
        if stores is not None:
            stores.close()
        if lock is not None:
            lock.withdraw()
            lock.release()
