"""The store, reached through the worker that holds it (embedded store only; see `rpc`)."""

from __future__ import annotations

import contextlib
import http.client
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson

from actionlog.core.errors import QueryLimitExceeded, StoreError, StoreUnavailable
from actionlog.core.settings import ClickHouseSettings
from actionlog.store.clickhouse import STREAM_CHUNK
from actionlog.store.holder import WorkerLink
from actionlog.store.rpc import AUTH_SCHEME, CLOCK_PATH, COMMAND_PATH, ROWS_PATH, STREAM_PATH, Statement
from actionlog.store.sqltext import qualified

__all__ = ["WorkerStore"]


class WorkerStore:
    """The `actionlog.store.Store` operations, run by the worker that holds the embedded store.

    Args:
        settings: the store's settings (database and table names).
        link: the worker's loopback address and key (`actionlog.store.holder.read_link`).
    Answers are awaited for the read timeout (``ACTIONLOG_CLICKHOUSE_READ_TIMEOUT``), also between
    two chunks of a stream.
    """

    def __init__(self, settings: ClickHouseSettings, link: WorkerLink) -> None:
        self.settings = settings
        self.link = link
        self.timeout = settings.read_timeout

    @property
    def log_table(self) -> str:
        return qualified(self.settings.database, self.settings.table)

    def _post(self, path: str, statement: Statement) -> Any:
        request = urllib.request.Request(
            self.link.url + path,
            data=orjson.dumps(statement.to_json()),
            headers={"Content-Type": "application/json", "Authorization": f"{AUTH_SCHEME} {self.link.key}"},
            method="POST",
        )
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise _answered(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise StoreUnavailable(f"the worker holding the store ({self.link.url}) cannot be reached: {exc}") from None

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        with self._post(COMMAND_PATH, Statement(sql, parameters or {})) as response:
            response.read()

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self._post(ROWS_PATH, Statement(sql, parameters or {})) as response:
            try:
                rows = orjson.loads(response.read())["rows"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise StoreError(f"the worker sent rows that do not parse: {exc}") from None
        return [tuple(row) for row in rows]

    def clock_ms(self) -> int:
        with self._post(CLOCK_PATH, Statement("SELECT now64(3)", {})) as response:
            try:
                return int(orjson.loads(response.read())["now_ms"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise StoreError(f"the worker sent no clock reading: {exc}") from None

    @contextlib.contextmanager
    def stream(self, sql: str, parameters: dict[str, Any], fmt: str) -> Iterator[Any]:
        response = self._post(STREAM_PATH, Statement(sql, parameters, fmt))
        try:
            yield _Reader(response)
        finally:
            response.close()

    def close(self) -> None:
        pass

    def __enter__(self) -> WorkerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Reader:
    def __init__(self, response: Any) -> None:
        self._response = response

    def read(self, size: int = STREAM_CHUNK) -> bytes:
        try:
            return bytes(self._response.read(size))
        except (http.client.IncompleteRead, OSError) as exc:
            raise StoreError(
                f"the worker's stream was cut short ({type(exc).__name__}); the worker's log says why "
                "(a report limit, the store failing)"
            ) from None


def _answered(exc: urllib.error.HTTPError) -> StoreError:
    try:
        body = orjson.loads(exc.read())
    except Exception:
        body = {}
    message = str(body.get("message") or f"HTTP {exc.code}")
    code = body.get("code")
    code = code if isinstance(code, int) else None
    if exc.code == 503 and body.get("error") == "store_unavailable":
        return StoreUnavailable(message, code)
    if exc.code == 503 and body.get("error") == "limit_exceeded":
        return QueryLimitExceeded(message, code)
    return StoreError(message, code)
