"""The ClickHouse edge: one client of the embedded engine (chDB) or of a server, and its errors.

Everything here is blocking; async callers run it in a thread (chDB releases the GIL, so the
event loop stays responsive). One `ClickHouseStore` is one client: its calls run one at a time
(chDB serializes the calls of one connection handle, and a server refuses concurrent queries in
one session), so the worker gives the sink a store of its own and each HTTP download another.
Errors surface as `StoreError` carrying the server's error code.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from actionlog.core.avro import container
from actionlog.core.errors import QueryLimitExceeded, StoreError, StoreUnavailable
from actionlog.core.settings import ClickHouseSettings
from actionlog.store.codes import LIMIT_CODES
from actionlog.store.schema import INSERT_COLUMNS, MAX_PARTITIONS_PER_INSERT
from actionlog.store.sqltext import qualified

__all__ = ["STREAM_CHUNK", "ClickHouseStore", "store_error"]

log = logging.getLogger(__name__)

STREAM_CHUNK = 1 << 20
"""Bytes per read of a query's output stream: big reads keep the per-chunk cost negligible."""
#: How long to wait for the embedded engine's own file lock (a previous holder letting go).
ENGINE_LOCK_WAIT = 30.0


class ClickHouseStore:
    """One client of ClickHouse, embedded or remote, made from settings.

    Args:
        settings: where the store is and which database/table to use.
        gate: a lock shared by every client of this process on an embedded store: inserts hold
            it while they run and `clock_ms` reads the clock under it, so that the clock is
            never read while an insert of this process is in flight (see `clock_ms`).
        on_close: called once when the store is closed (releases what opened it).
        for_inserts: a client of the sink: on a server its answers are awaited for the insert
            timeout, not the read timeout.
    """

    def __init__(
        self,
        settings: ClickHouseSettings,
        *,
        gate: threading.Lock | None = None,
        on_close: Callable[[], None] | None = None,
        for_inserts: bool = False,
    ) -> None:
        self.settings = settings
        self._client: Any = None
        self._gate = gate if gate is not None else threading.Lock()
        self._on_close = on_close
        self._timeout = settings.insert_timeout if for_inserts else settings.read_timeout

    @property
    def log_table(self) -> str:
        """The quoted, qualified log table."""
        return qualified(self.settings.database, self.settings.table)

    def connect(self) -> ClickHouseStore:
        """Open the client; raises StoreUnavailable with one readable line when it cannot."""
        import clickhouse_connect  # the one import of the driver

        s = self.settings
        deadline = time.monotonic() + ENGINE_LOCK_WAIT
        next_note = 0.0
        while True:
            try:
                self._client = self._open(clickhouse_connect)
                break
            except Exception as exc:
                now = time.monotonic()
                if not (s.embedded and "Cannot lock file" in str(exc) and now < deadline):
                    raise _unavailable(exc, s) from None
                if now >= next_note:
                    log.info("the embedded engine's files are still locked by a previous holder; waiting")
                    next_note = now + 5.0
                time.sleep(0.5)
        # The driver imports pandas lazily at the first insert (1-3 s here): pay it at start-up,
        # not while the first batch of events waits to land.
        from clickhouse_connect.driver import options

        getattr(options, "pd", None)
        return self

    def _open(self, clickhouse_connect: Any) -> Any:
        s = self.settings
        if s.embedded:
            path = s.chdb_path
            path.mkdir(parents=True, exist_ok=True)
            return clickhouse_connect.get_client(interface="chdb", path=str(path))
        u = urlsplit(s.url)
        secure = u.scheme == "https"
        return clickhouse_connect.get_client(
            host=u.hostname,
            port=u.port or (8443 if secure else 8123),
            username=unquote(u.username or "default"),
            password=unquote(u.password or ""),
            secure=secure,
            send_receive_timeout=max(1, round(self._timeout)),
            connect_timeout=5,
            compress=False,
            # One client per concurrent user, and no session: a session admits one query at a time.
            autogenerate_session_id=False,
        )

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
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def __enter__(self) -> ClickHouseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- operations -------------------------------------------------------------------------
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        try:
            self.client.command(sql, parameters=parameters)
        except Exception as exc:
            raise store_error(exc) from None

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return [tuple(row) for row in self.client.query(sql, parameters=parameters).result_rows]
        except Exception as exc:
            raise store_error(exc) from None

    def insert_avro(self, bodies: Sequence[bytes], schema: bytes, *, dedup_token: str | None = None) -> None:
        """Insert Avro binary bodies (all written with ``schema``, JSON) as one container block.

        ClickHouse reads the block itself (format ``Avro``, columns by field name): the rows are
        never decoded in Python. ``dedup_token`` makes a repeated block a no-op. The most table
        partitions one block may touch is pinned (`MAX_PARTITIONS_PER_INSERT`), whatever a server
        profile says, so that the sink knows how far to cut a block refused for it.
        """
        settings: dict[str, Any] = {"max_partitions_per_insert_block": MAX_PARTITIONS_PER_INSERT}
        if dedup_token:
            settings["insert_deduplication_token"] = dedup_token
        block = container(bodies, schema)
        try:
            with self._gate:
                self.client.raw_insert(
                    self.log_table, column_names=list(INSERT_COLUMNS), insert_block=block, settings=settings, fmt="Avro"
                )
        except Exception as exc:
            raise store_error(exc) from None

    def clock_ms(self) -> int:
        """The store's clock (epoch ms), read while no insert of this process is in flight.

        Every row an insert of this process stamped (``ingested_at``) before the returned
        instant is visible by then. Inserts of other processes (several workers on a server) are
        not covered: the export's safety lag is for those.
        """
        with self._gate:
            return int(self.query_rows("SELECT toUnixTimestamp64Milli(now64(3))")[0][0])

    @contextlib.contextmanager
    def stream(self, sql: str, parameters: dict[str, Any], fmt: str) -> Iterator[Any]:
        """Open a raw byte stream of a query's output in ClickHouse format ``fmt``.

        Read it in big chunks (``read(STREAM_CHUNK)``); it holds this client until closed.
        """
        try:
            raw = self.client.raw_stream(sql, parameters=parameters, fmt=fmt)
        except Exception as exc:
            raise store_error(exc) from None
        try:
            yield _ErrorMappingReader(raw)
        finally:
            with contextlib.suppress(Exception):
                raw.close()


class _ErrorMappingReader:
    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def read(self, size: int = STREAM_CHUNK) -> bytes:
        try:
            return bytes(self._raw.read(size))
        except Exception as exc:
            raise store_error(exc) from None


#: Server error codes that mean "nothing was ever landed here" rather than a failure.
MISSING_OBJECT_CODES = {60: "table", 81: "database"}


def store_error(exc: Exception) -> StoreError:
    """The `StoreError` for a driver exception: one line, the server's code kept."""
    code = getattr(exc, "code", None)
    code = code if isinstance(code, int) else _code_in(str(exc))
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
    if code in LIMIT_CODES:
        return QueryLimitExceeded(
            "the query hit its limit (ACTIONLOG_CLICKHOUSE_QUERY_MAX_SECONDS / ACTIONLOG_CLICKHOUSE_QUERY_MAX_MEMORY): "
            f"narrow the filters or raise the limit ({text})",
            code,
        )
    if _looks_unreachable(exc):
        return StoreUnavailable(f"ClickHouse unreachable: {text}", code)
    return StoreError(f"ClickHouse error: {text}", code)


_CODE = re.compile(r"\bCode: (\d{1,4})\b")


def _code_in(text: str) -> int | None:
    match = _CODE.search(text)
    return int(match.group(1)) if match else None


def _looks_unreachable(exc: Exception) -> bool:
    name = type(exc).__name__
    text = str(exc)
    return name == "OperationalError" or "Cannot lock file" in text or "Connection refused" in text


def _unavailable(exc: Exception, settings: ClickHouseSettings) -> StoreUnavailable:
    text = " ".join(str(exc).split())
    if "Cannot lock file" in text:
        return StoreUnavailable(f"the embedded store {settings.chdb_path} is held by another process")
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if errno:
        text = errno.group(0)
    elif len(text) > 300:
        text = text[:300] + "…"
    return StoreUnavailable(f"cannot reach ClickHouse at {settings.safe_url}: {text}")
