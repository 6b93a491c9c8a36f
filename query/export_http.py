"""The export job through a running worker (CONTRACT §6): the worker's routes and the CLI's client.

When the worker holds the embedded store, ``actionlog export`` cannot open it; it asks the
worker for the few store operations it needs (`query.export_state.ExportBackend`). The lock, the
temporary file, fsync, rename and the two-phase recording still happen in the CLI process.

Routes (``add_export_routes``), JSON unless said otherwise; errors are ``{"error", "message"}``
with 400 (``bad_parameter``, with ``param``) or 503 (``store_unavailable``):

* ``GET /exports/now`` → ``{"now_ms": int}``, the store's clock.
* ``GET /exports/{job}/state`` → `JobState.to_json`.
* ``POST /exports/{job}/runs`` with `RunRecord.to_json` → ``{"ok": true}``.
* ``GET /exports/{job}/rows?lo=MS&hi=MS&<report params>`` → the window's rows as raw ClickHouse
  output (``CSV`` or ``JSONEachRow``, no header, no framing), streamed.
* ``GET /exports/{job}/count?lo=MS&hi=MS&<report params>`` → ``{"rows": int}``.
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
from aiohttp import web

from actionlog.errors import BadParameter, StoreError
from query.client import fetch, post_json
from query.export import parse_export_params, validate_job
from query.export_state import JobState, RunRecord, StoreBackend, Window, window_chunks
from query.http import STORE_KEY, error_response, query_params, stream_chunks

__all__ = ["HttpBackend", "add_export_routes"]

ROWS_TIMEOUT = 600.0
_MS = re.compile(r"-?[0-9]{1,19}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Backends:
    """One `StoreBackend` per app (it remembers that the schema exists)."""

    def __init__(self) -> None:
        self.backend: StoreBackend | None = None

    def get(self, app: web.Application) -> StoreBackend:
        if self.backend is None:
            self.backend = StoreBackend(app[STORE_KEY], owned=False)
        return self.backend


BACKENDS_KEY: web.AppKey[_Backends] = web.AppKey("export_backends", _Backends)


def add_export_routes(app: web.Application) -> None:
    """Add the export routes to the worker's app (the store is ``app[STORE_KEY]``)."""
    app[BACKENDS_KEY] = _Backends()
    app.router.add_get("/exports/now", _guard(_now))
    app.router.add_get("/exports/{job}/state", _guard(_state))
    app.router.add_post("/exports/{job}/runs", _guard(_record))
    app.router.add_get("/exports/{job}/rows", _guard(_rows))
    app.router.add_get("/exports/{job}/count", _guard(_count))


def _guard(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadParameter as exc:
            return error_response(400, "bad_parameter", str(exc), param=exc.param)
        except StoreError as exc:
            return error_response(503, "store_unavailable", str(exc))

    return guarded


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def _backend(request: web.Request) -> StoreBackend:
    backend = request.app[BACKENDS_KEY].get(request.app)
    await asyncio.to_thread(backend.ensure)
    return backend


def _window(request: web.Request) -> Window:
    job = validate_job(request.match_info["job"])
    params = query_params(request)
    bounds = {}
    for key in ("lo", "hi"):
        values = params.pop(key, [])
        if len(values) != 1 or not _MS.fullmatch(values[0]):
            raise BadParameter(key, "must be given once, as epoch milliseconds")
        bounds[key] = int(values[0])
    filters = parse_export_params(params)
    return Window(job=job, filters=filters, params=params, lo_ms=bounds["lo"], hi_ms=bounds["hi"])


async def _now(request: web.Request) -> web.StreamResponse:
    backend = await _backend(request)
    return _json({"now_ms": await asyncio.to_thread(backend.now_ms)})


async def _state(request: web.Request) -> web.StreamResponse:
    job = validate_job(request.match_info["job"])
    backend = await _backend(request)
    state = await asyncio.to_thread(backend.job_state, job)
    return _json(state.to_json())


async def _record(request: web.Request) -> web.StreamResponse:
    job = validate_job(request.match_info["job"])
    try:
        run = RunRecord.from_json(orjson.loads(await request.read()))
    except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
        raise BadParameter("body", f"not a run record: {exc}") from None
    if run.job != job:
        raise BadParameter("body", "the record's job differs from the job in the path")
    backend = await _backend(request)
    await asyncio.to_thread(backend.record, run)
    return _json({"ok": True})


async def _rows(request: web.Request) -> web.StreamResponse:
    window = _window(request)
    backend = await _backend(request)
    headers = {"Content-Type": "application/octet-stream", "Cache-Control": "no-store"}
    return await stream_chunks(request, lambda: window_chunks(backend.store, window), headers)


async def _count(request: web.Request) -> web.StreamResponse:
    window = _window(request)
    backend = await _backend(request)
    return _json({"rows": await asyncio.to_thread(backend.count, window)})


class HttpBackend:
    """`ExportBackend` over a running worker's HTTP endpoint (blocking, for the CLI).

    Args:
        base_url: the worker's base URL (``sink.store.worker_endpoint``).
        timeout: seconds to wait for each small request.
    """

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    @staticmethod
    def _path(job: str, what: str) -> str:
        return f"/exports/{urllib.parse.quote(job, safe='')}/{what}"

    def _get(self, path: str, params: dict[str, list[str]] | None = None) -> Any:
        body = b"".join(fetch(self.base_url, path, params or {}, timeout=self.timeout))
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise StoreError(f"the worker at {self.base_url} answered {path} with something not JSON") from None

    @staticmethod
    def _window_params(window: Window) -> dict[str, list[str]]:
        params = {key: list(values) for key, values in window.params.items()}
        params["lo"], params["hi"] = [str(window.lo_ms)], [str(window.hi_ms)]
        return params

    def job_state(self, job: str) -> JobState:
        try:
            return JobState.from_json(self._get(self._path(job, "state")))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StoreError(f"the worker sent a bad export state: {exc}") from None

    def record(self, run: RunRecord) -> None:
        post_json(self.base_url, self._path(run.job, "runs"), run.to_json(), timeout=self.timeout)

    def now_ms(self) -> int:
        now = self._get("/exports/now").get("now_ms")
        if not isinstance(now, int):
            raise StoreError(f"the worker at {self.base_url} sent no clock reading")
        return now

    def window_chunks(self, window: Window) -> Iterator[bytes]:
        path = self._path(window.job, "rows")
        return fetch(self.base_url, path, self._window_params(window), timeout=ROWS_TIMEOUT)

    def count(self, window: Window) -> int:
        rows = self._get(self._path(window.job, "count"), self._window_params(window)).get("rows")
        if not isinstance(rows, int):
            raise StoreError(f"the worker at {self.base_url} sent no row count")
        return rows

    def close(self) -> None:
        pass
