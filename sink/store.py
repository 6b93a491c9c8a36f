"""The ClickHouse edge: one client for the embedded engine (chDB) or a server, DDL, inserts, streams.

Everything here is blocking; async callers run it with ``asyncio.to_thread`` (chDB releases the
GIL, so the event loop stays responsive). Errors surface as :class:`actionlog.errors.StoreError`
carrying the server's error code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from actionlog.errors import StoreError, StoreUnavailable
from actionlog.settings import ClickHouseSettings

log = logging.getLogger(__name__)

#: Columns of CONTRACT §4 that the sink writes, in insert order (``ingested_at`` is the server's).
INSERT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "occurred_at",
    "action_type",
    "source",
    "learner_id",
    "email",
    "panorama_id",
    "panorama_name",
    "content_id",
    "content_type",
    "content_title",
    "course_group_id",
    "actor_id",
    "actor_email",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
)

# One row per event_id: ReplacingMergeTree collapses rows with the same sorting key
# (occurred_at, event_id). The version keeps the FIRST landed copy (the largest _version is
# the smallest ingested_at), so a duplicate that lands later never changes what was reported
# or exported. Reads use FINAL (see README "Querying without duplicates").
TABLE_DDL = """
CREATE TABLE IF NOT EXISTS {db}.{table}
(
    event_id        String,
    occurred_at     DateTime64(3, 'UTC'),
    action_type     LowCardinality(String),
    source          LowCardinality(String),
    learner_id      String,
    email           String,
    panorama_id     String,
    panorama_name   String,
    content_id      String,
    content_type    LowCardinality(String),
    content_title   String,
    course_group_id String,
    actor_id        String,
    actor_email     String,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3),
    kafka_topic     LowCardinality(String),
    kafka_partition Int32,
    kafka_offset    Int64,
    _version        UInt64 MATERIALIZED toUInt64(9000000000000000) - toUInt64(toUnixTimestamp64Milli(ingested_at)),
    INDEX idx_panorama_id panorama_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_panorama_name lowerUTF8(panorama_name) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_learner_id learner_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_email email TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 10000
"""

#: A convenience view for analysts: the deduplicated table (same as ``... FROM table FINAL``).
VIEW_DDL = """
CREATE VIEW IF NOT EXISTS {db}.{view} AS
SELECT event_id, occurred_at, action_type, source, learner_id, email, panorama_id, panorama_name,
       content_id, content_type, content_title, course_group_id, actor_id, actor_email, ingested_at,
       kafka_topic, kafka_partition, kafka_offset
FROM {db}.{table} FINAL
"""

ENDPOINT_FILE = "actionlog-worker.json"


def _zigzag_varint(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _avro_bytes(data: bytes) -> bytes:
    return _zigzag_varint(len(data)) + data


def avro_container(bodies: Sequence[bytes], schema: bytes) -> bytes:
    """An Avro object container file (Avro spec): header, one data block of ``bodies``, no codec."""
    sync = os.urandom(16)
    meta = (
        _zigzag_varint(2)
        + _avro_bytes(b"avro.schema")
        + _avro_bytes(schema)
        + _avro_bytes(b"avro.codec")
        + _avro_bytes(b"null")
        + _zigzag_varint(0)
    )
    data = b"".join(bodies)
    return b"Obj\x01" + meta + sync + _zigzag_varint(len(bodies)) + _zigzag_varint(len(data)) + data + sync


def quote_ident(name: str) -> str:
    """Backtick-quote an identifier that settings already validated as plain."""
    return f"`{name}`"


class Store:
    """A connection to ClickHouse, embedded or remote, made from settings.

    Args:
        settings: where the store is and which database/table to use.
    """

    def __init__(self, settings: ClickHouseSettings) -> None:
        self.settings = settings
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def db(self) -> str:
        return quote_ident(self.settings.database)

    @property
    def table(self) -> str:
        return f"{self.db}.{quote_ident(self.settings.table)}"

    def connect(self) -> Store:
        """Open the client; raises StoreUnavailable with one readable line when it cannot."""
        import clickhouse_connect  # the only import of the driver in the code base

        s = self.settings
        try:
            if s.embedded:
                path = s.chdb_path
                path.mkdir(parents=True, exist_ok=True)
                self._client = clickhouse_connect.get_client(interface="chdb", path=str(path))
            else:
                u = urlsplit(s.url)
                secure = u.scheme == "https"
                self._client = clickhouse_connect.get_client(
                    host=u.hostname,
                    port=u.port or (8443 if secure else 8123),
                    username=unquote(u.username or "default"),
                    password=unquote(u.password or ""),
                    secure=secure,
                    send_receive_timeout=int(s.insert_timeout),
                    connect_timeout=5,
                    compress=False,
                )
        except Exception as exc:
            raise _unavailable(exc, s) from None
        # The driver imports pandas lazily at the first insert (1-3 s here): pay it at start-up,
        # not while the first batch of events waits to land.
        from clickhouse_connect.driver import options

        getattr(options, "pd", None)
        return self

    @property
    def client(self) -> Any:
        if self._client is None:
            self.connect()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create the database, the table and the analysts' view if missing (idempotent)."""
        self.command(f"CREATE DATABASE IF NOT EXISTS {self.db}")
        self.command(TABLE_DDL.format(db=self.db, table=quote_ident(self.settings.table)))
        view = quote_ident(self.settings.table + "_dedup")
        self.command(VIEW_DDL.format(db=self.db, table=quote_ident(self.settings.table), view=view))

    # -- operations -------------------------------------------------------------------------
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        try:
            return self.client.command(sql, parameters=parameters)
        except Exception as exc:
            raise _store_error(exc) from None

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return list(self.client.query(sql, parameters=parameters).result_rows)
        except Exception as exc:
            raise _store_error(exc) from None

    def insert_columns(
        self,
        columns: Sequence[Sequence[Any]],
        *,
        column_names: Sequence[str] = INSERT_COLUMNS,
        table: str | None = None,
        dedup_token: str | None = None,
    ) -> None:
        """Insert one block, column-oriented. ``dedup_token`` makes a repeated block a no-op."""
        settings = {"insert_deduplication_token": dedup_token} if dedup_token else None
        try:
            self.client.insert(
                table or self.settings.table,
                columns,
                column_names=list(column_names),
                database=self.settings.database,
                column_oriented=True,
                settings=settings,
            )
        except Exception as exc:
            raise _store_error(exc) from None

    def insert_avro(self, bodies: Sequence[bytes], schema: bytes, *, dedup_token: str | None = None) -> None:
        """Insert Avro binary bodies (all written with ``schema``, JSON) as one container block.

        ClickHouse reads the block itself (format ``Avro``, columns by field name): the rows are
        never decoded in Python.
        """
        settings = {"insert_deduplication_token": dedup_token} if dedup_token else None
        try:
            self.client.raw_insert(
                f"{self.table}",
                column_names=list(INSERT_COLUMNS),
                insert_block=avro_container(bodies, schema),
                settings=settings,
                fmt="Avro",
            )
        except Exception as exc:
            raise _store_error(exc) from None

    @contextlib.contextmanager
    def stream(self, sql: str, parameters: dict[str, Any], fmt: str) -> Iterator[Any]:
        """Open a raw byte stream of a query's output in ClickHouse format ``fmt``.

        Read it in big chunks (``read(1 << 20)``); it holds the embedded engine until closed.
        """
        try:
            raw = self.client.raw_stream(sql, parameters=parameters, fmt=fmt)
        except Exception as exc:
            raise _store_error(exc) from None
        try:
            yield _ErrorMappingReader(raw)
        finally:
            with contextlib.suppress(Exception):
                raw.close()

    # -- the worker's endpoint file (embedded store only) -----------------------------------
    def endpoint_path(self) -> Path | None:
        return self.settings.chdb_path / ENDPOINT_FILE if self.settings.embedded else None

    def publish_endpoint(self, base_url: str) -> None:
        path = self.endpoint_path()
        if path is not None:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"pid": os.getpid(), "url": base_url}))
            tmp.replace(path)

    def withdraw_endpoint(self) -> None:
        """Remove the endpoint file if this process wrote it (never another worker's)."""
        path = self.endpoint_path()
        if path is None:
            return
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass


def worker_endpoint(settings: ClickHouseSettings) -> str | None:
    """The base URL of a live worker holding the embedded store at ``settings``, if any."""
    if not settings.embedded:
        return None
    path = settings.chdb_path / ENDPOINT_FILE
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(info["url"])


class _ErrorMappingReader:
    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def read(self, size: int = 1 << 20) -> bytes:
        try:
            return bytes(self._raw.read(size))
        except Exception as exc:
            raise _store_error(exc) from None


#: Server error codes that mean "nothing was ever landed here" rather than a failure.
MISSING_OBJECT_CODES = {60: "table", 81: "database"}


def _store_error(exc: Exception) -> StoreError:
    code = getattr(exc, "code", None)
    text = " ".join(str(exc).split())
    if code in MISSING_OBJECT_CODES:
        what = MISSING_OBJECT_CODES[code]
        return StoreError(
            f"the {what} does not exist yet: start the worker once to create it, or check "
            f"ACTIONLOG_CLICKHOUSE_DATABASE / ACTIONLOG_CLICKHOUSE_TABLE ({text[:200]})",
            code,
        )
    if len(text) > 500:
        text = text[:500] + "…"
    if _looks_unreachable(exc):
        return StoreUnavailable(f"ClickHouse unreachable: {text}", code)
    return StoreError(f"ClickHouse error: {text}", code if isinstance(code, int) else None)


def _looks_unreachable(exc: Exception) -> bool:
    name = type(exc).__name__
    text = str(exc)
    return name == "OperationalError" or "Cannot lock file" in text or "Connection refused" in text


def _unavailable(exc: Exception, settings: ClickHouseSettings) -> StoreUnavailable:
    text = " ".join(str(exc).split())
    if "Cannot lock file" in text:
        return StoreUnavailable(
            f"the embedded store {settings.chdb_path} is held by another process "
            "(a running worker serves reports over HTTP; is ACTIONLOG_HTTP_PORT right?)"
        )
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if errno:
        text = errno.group(0)
    elif len(text) > 300:
        text = text[:300] + "…"
    return StoreUnavailable(f"cannot reach ClickHouse at {settings.safe_url}: {text}")
