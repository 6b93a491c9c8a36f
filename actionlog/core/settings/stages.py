"""Settings of the pipeline's stages: normalizer, sink, HTTP server, export job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from actionlog.core import env as e


@dataclass(frozen=True)
class ProcessorSettings:
    """The normalizer (``ACTIONLOG_PROCESSOR_*``)."""

    app_id: str = "actionlog-normalizer"
    batch_size: int = 5000
    batch_seconds: float = 0.05
    #: ``faust`` (the Faust agent) or ``aiokafka`` (same step on a plain consumer, much faster).
    engine: str = "faust"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProcessorSettings:
        return cls(
            engine=e.choice(env, "ACTIONLOG_PROCESSOR_ENGINE", cls.engine, ("faust", "aiokafka")),
            app_id=e.text(env, "ACTIONLOG_PROCESSOR_APP_ID", cls.app_id),
            batch_size=e.integer(env, "ACTIONLOG_PROCESSOR_BATCH_SIZE", cls.batch_size),
            batch_seconds=e.number(env, "ACTIONLOG_PROCESSOR_BATCH_SECONDS", cls.batch_seconds),
        )


@dataclass(frozen=True)
class WorkerSettings:
    """The ``actionlog worker`` command (``ACTIONLOG_WORKER_*``).

    Attributes:
        processes: normalizer processes. 1: the worker normalizes in its own process. N > 1: it
            starts N normalizer processes (each joins the input group) and itself only lands
            the log and serves HTTP, so that normalizing uses every core.
    """

    processes: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerSettings:
        return cls(processes=e.integer(env, "ACTIONLOG_WORKER_PROCESSES", cls.processes, maximum=64))


@dataclass(frozen=True)
class SinkSettings:
    """The ClickHouse sink (``ACTIONLOG_SINK_*``): batches bounded by rows and by time."""

    group_id: str = "actionlog-sink"
    batch_rows: int = 50_000
    batch_seconds: float = 0.5
    max_backoff: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SinkSettings:
        return cls(
            group_id=e.text(env, "ACTIONLOG_SINK_GROUP_ID", cls.group_id),
            batch_rows=e.integer(env, "ACTIONLOG_SINK_BATCH_ROWS", cls.batch_rows),
            batch_seconds=e.number(env, "ACTIONLOG_SINK_BATCH_SECONDS", cls.batch_seconds),
            max_backoff=e.number(env, "ACTIONLOG_SINK_MAX_BACKOFF", cls.max_backoff),
        )


@dataclass(frozen=True)
class HttpSettings:
    """The worker's HTTP server (``ACTIONLOG_HTTP_*``, ``ACTIONLOG_METRICS_PUBLIC``,
    ``ACTIONLOG_SESSION_HOURS``).

    Attributes:
        metrics_public: serve ``/metrics`` without a token.
        session_hours: how long a page session lasts after signing in.
        max_downloads: reports streamed at once; one more is answered 429.
        write_timeout: seconds a download may wait for its client to take more data before it is cut.
        header_timeout: seconds a client has to send a request's line and headers, once it started.
        idle_timeout: seconds a connection may wait for its next request (keep-alive), or for its
            first one.
        max_connections: open connections at once; one more is answered 503 and closed.
    """

    host: str = "127.0.0.1"
    port: int = 8088
    metrics_public: bool = False
    session_hours: float = 8.0
    max_downloads: int = 8
    write_timeout: float = 30.0
    header_timeout: float = 10.0
    idle_timeout: float = 15.0
    max_connections: int = 256

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpSettings:
        return cls(
            host=e.text(env, "ACTIONLOG_HTTP_HOST", cls.host),
            port=e.integer(env, "ACTIONLOG_HTTP_PORT", cls.port, minimum=0, maximum=65535),
            metrics_public=e.flag(env, "ACTIONLOG_METRICS_PUBLIC"),
            session_hours=e.number(env, "ACTIONLOG_SESSION_HOURS", cls.session_hours),
            max_downloads=e.integer(env, "ACTIONLOG_HTTP_MAX_DOWNLOADS", cls.max_downloads),
            write_timeout=e.number(env, "ACTIONLOG_HTTP_WRITE_TIMEOUT", cls.write_timeout),
            header_timeout=e.number(env, "ACTIONLOG_HTTP_HEADER_TIMEOUT", cls.header_timeout),
            idle_timeout=e.number(env, "ACTIONLOG_HTTP_IDLE_TIMEOUT", cls.idle_timeout),
            max_connections=e.integer(env, "ACTIONLOG_HTTP_MAX_CONNECTIONS", cls.max_connections),
        )

    @property
    def loopback(self) -> bool:
        """Whether the server listens on the loopback interface only."""
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")


@dataclass(frozen=True)
class ExportSettings:
    """The scheduled export job (``ACTIONLOG_EXPORT_*``).

    Attributes:
        safety_lag: seconds between the store's clock and the end of a window; None: the default
            for the store (0 embedded, the insert timeout but at least 10 s on a server).
    """

    safety_lag: float | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ExportSettings:
        return cls(safety_lag=e.optional_number(env, "ACTIONLOG_EXPORT_SAFETY_LAG", maximum=86_400))
