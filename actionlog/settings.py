"""Settings, one frozen dataclass per component, each read from its own environment prefix.

Settings are built once at the entry point (``Settings.from_env()``) and passed down; nothing
reads the environment at import time. ``repr()`` of any settings object masks secrets.
Every variable is documented in ``.env.example`` and in the README.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from actionlog.errors import ConfigError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value > 0:
        raise ConfigError(f"{name}={raw} must be positive")
    return value


def _ident(env: Mapping[str, str], name: str, default: str) -> str:
    value = _get(env, name, default)
    if not _IDENT.match(value):
        raise ConfigError(f"{name}={value!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return value


@dataclass(frozen=True)
class TopicSettings:
    """Kafka topic names (prefix ``ACTIONLOG_TOPIC_``) and partition counts."""

    enrollments: str = "lms.enrollments"
    status_changes: str = "lms.status-changes"
    access_revocations: str = "lms.access-revocations"
    certificate_grants: str = "lms.certificate-grants"
    log: str = "content-actions-log"
    dlq: str = "content-actions-log.dlq"
    input_partitions: int = 3
    log_partitions: int = 3
    replication: int = 1
    #: Largest upstream message accepted (topic max.message.bytes of the input topics). The
    #: dead-letter topic gets 1 MiB more, so that any input message fits there with our headers.
    max_message_bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TopicSettings:
        d = cls()
        return cls(
            enrollments=_get(env, "ACTIONLOG_TOPIC_ENROLLMENTS", d.enrollments),
            status_changes=_get(env, "ACTIONLOG_TOPIC_STATUS_CHANGES", d.status_changes),
            access_revocations=_get(env, "ACTIONLOG_TOPIC_ACCESS_REVOCATIONS", d.access_revocations),
            certificate_grants=_get(env, "ACTIONLOG_TOPIC_CERTIFICATE_GRANTS", d.certificate_grants),
            log=_get(env, "ACTIONLOG_TOPIC_LOG", d.log),
            dlq=_get(env, "ACTIONLOG_TOPIC_DLQ", d.dlq),
            input_partitions=_int(env, "ACTIONLOG_TOPIC_INPUT_PARTITIONS", d.input_partitions),
            log_partitions=_int(env, "ACTIONLOG_TOPIC_LOG_PARTITIONS", d.log_partitions),
            replication=_int(env, "ACTIONLOG_TOPIC_REPLICATION", d.replication),
            max_message_bytes=_int(env, "ACTIONLOG_TOPIC_MAX_MESSAGE_BYTES", d.max_message_bytes, minimum=1024),
        )

    @property
    def type_by_topic(self) -> dict[str, str]:
        """Input topic name -> the action type it carries (CONTRACT §2)."""
        return {
            self.enrollments: "enrollment",
            self.status_changes: "status_change",
            self.access_revocations: "revoked_access",
            self.certificate_grants: "certificate_grant",
        }

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.type_by_topic)

    @property
    def dlq_max_message_bytes(self) -> int:
        return self.max_message_bytes + 1024 * 1024


@dataclass(frozen=True)
class KafkaSettings:
    """Kafka connection (``KAFKA_BOOTSTRAP_SERVERS``) and topics."""

    bootstrap_servers: str = "localhost:9092"
    topics: TopicSettings = field(default_factory=TopicSettings)
    #: Seconds without heartbeat before a crashed consumer's partitions move to another worker.
    session_timeout: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSettings:
        return cls(
            bootstrap_servers=_get(env, "KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            topics=TopicSettings.from_env(env),
            session_timeout=_float(env, "ACTIONLOG_KAFKA_SESSION_TIMEOUT", cls.session_timeout),
        )


@dataclass(frozen=True)
class ClickHouseSettings:
    """Where the rows live (``CLICKHOUSE_URL``, ``ACTIONLOG_CLICKHOUSE_*``).

    ``url`` is ``chdb://PATH`` (embedded engine, data under PATH; a relative PATH is relative to
    the working directory) or ``http(s)://user:password@host:port/database``. The database comes
    from the URL's path when it has one, else ``ACTIONLOG_CLICKHOUSE_DATABASE``.
    """

    url: str = "chdb://data/chdb"
    database: str = "actionlog"
    table: str = "content_actions_log"
    insert_timeout: float = 30.0

    def __repr__(self) -> str:
        return (
            f"ClickHouseSettings(url={self.safe_url!r}, database={self.database!r}, "
            f"table={self.table!r}, insert_timeout={self.insert_timeout!r})"
        )

    __str__ = __repr__

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClickHouseSettings:
        url = _get(env, "CLICKHOUSE_URL", cls.url)
        database = _ident(env, "ACTIONLOG_CLICKHOUSE_DATABASE", cls.database)
        parts = urlsplit(url)
        if parts.scheme == "chdb":
            if not url[len("chdb://") :]:
                raise ConfigError("CLICKHOUSE_URL=chdb:// needs a path, e.g. chdb://data/chdb")
        elif parts.scheme in ("http", "https"):
            if not parts.hostname:
                raise ConfigError(f"CLICKHOUSE_URL has no host: {_mask(url)}")
            db = unquote(parts.path.strip("/"))
            if db:
                if not _IDENT.match(db):
                    raise ConfigError(f"CLICKHOUSE_URL database {db!r} is not a plain identifier")
                database = db
        else:
            raise ConfigError(f"CLICKHOUSE_URL must start with chdb://, http:// or https://, not {_mask(url)}")
        return cls(
            url=url,
            database=database,
            table=_ident(env, "ACTIONLOG_CLICKHOUSE_TABLE", cls.table),
            insert_timeout=_float(env, "ACTIONLOG_CLICKHOUSE_INSERT_TIMEOUT", cls.insert_timeout),
        )

    @property
    def embedded(self) -> bool:
        return self.url.startswith("chdb://")

    @property
    def chdb_path(self) -> Path:
        """Absolute data directory of the embedded engine."""
        return Path(self.url[len("chdb://") :]).expanduser().absolute()

    @property
    def safe_url(self) -> str:
        return _mask(self.url)


def _mask(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


@dataclass(frozen=True)
class ProcessorSettings:
    """The normalizer agent (``ACTIONLOG_PROCESSOR_*``)."""

    app_id: str = "actionlog-normalizer"
    batch_size: int = 1000
    batch_seconds: float = 0.05
    #: ``faust`` (the Faust agent) or ``aiokafka`` (same step on a plain consumer, much faster).
    engine: str = "faust"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProcessorSettings:
        engine = _get(env, "ACTIONLOG_PROCESSOR_ENGINE", cls.engine).lower()
        if engine not in ("faust", "aiokafka"):
            raise ConfigError(f"ACTIONLOG_PROCESSOR_ENGINE={engine!r} must be faust or aiokafka")
        return cls(
            engine=engine,
            app_id=_get(env, "ACTIONLOG_PROCESSOR_APP_ID", cls.app_id),
            batch_size=_int(env, "ACTIONLOG_PROCESSOR_BATCH_SIZE", cls.batch_size),
            batch_seconds=_float(env, "ACTIONLOG_PROCESSOR_BATCH_SECONDS", cls.batch_seconds),
        )


@dataclass(frozen=True)
class SinkSettings:
    """The ClickHouse sink (``ACTIONLOG_SINK_*``): batches bounded by rows and by time."""

    group_id: str = "actionlog-sink"
    batch_rows: int = 10_000
    batch_seconds: float = 0.5
    max_backoff: float = 5.0
    # Fault injection for failure drills only (documented as such): the first N inserts raise,
    # and/or the first insert hangs for this many seconds (past insert_timeout).
    fault_fail_inserts: int = 0
    fault_hang_seconds: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SinkSettings:
        return cls(
            group_id=_get(env, "ACTIONLOG_SINK_GROUP_ID", cls.group_id),
            batch_rows=_int(env, "ACTIONLOG_SINK_BATCH_ROWS", cls.batch_rows),
            batch_seconds=_float(env, "ACTIONLOG_SINK_BATCH_SECONDS", cls.batch_seconds),
            max_backoff=_float(env, "ACTIONLOG_SINK_MAX_BACKOFF", cls.max_backoff),
            fault_fail_inserts=_int(env, "ACTIONLOG_SINK_FAULT_FAIL_INSERTS", 0, minimum=0),
            fault_hang_seconds=float(_get(env, "ACTIONLOG_SINK_FAULT_HANG_SECONDS", "0")),
        )


@dataclass(frozen=True)
class HttpSettings:
    """The worker's HTTP server (``ACTIONLOG_HTTP_*``): reports, exports, /metrics, /healthz."""

    host: str = "127.0.0.1"
    port: int = 8088

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpSettings:
        return cls(
            host=_get(env, "ACTIONLOG_HTTP_HOST", cls.host),
            port=_int(env, "ACTIONLOG_HTTP_PORT", cls.port, minimum=0),
        )

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    """All settings of one actionlog process."""

    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = field(default_factory=ClickHouseSettings)
    processor: ProcessorSettings = field(default_factory=ProcessorSettings)
    sink: SinkSettings = field(default_factory=SinkSettings)
    http: HttpSettings = field(default_factory=HttpSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            kafka=KafkaSettings.from_env(env),
            clickhouse=ClickHouseSettings.from_env(env),
            processor=ProcessorSettings.from_env(env),
            sink=SinkSettings.from_env(env),
            http=HttpSettings.from_env(env),
        )
