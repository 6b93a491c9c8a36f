"""HTTP endpoints of the worker: the report (CONTRACT §5), exports, /metrics and /healthz."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from actionlog.errors import BadParameter, StoreError
from actionlog.metrics import Metrics
from query.filters import parse_report_params
from query.output import content_type, download_filename
from query.run import report_chunks
from sink.store import Store

log = logging.getLogger(__name__)

REPORT_PATH = "/reports/content-actions-log"

STORE_KEY: web.AppKey[Store] = web.AppKey("store", Store)
METRICS_KEY: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


def query_params(request: web.Request) -> dict[str, list[str]]:
    """The query string as name -> every value given, in order."""
    params: dict[str, list[str]] = {}
    for key, value in request.query.items():
        params.setdefault(key, []).append(value)
    return params


def error_response(status: int, error: str, message: str, **extra: Any) -> web.Response:
    body = {"error": error, "message": message, **extra}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


async def stream_chunks(
    request: web.Request,
    open_chunks: Callable[[], Iterator[bytes]],
    headers: dict[str, str],
) -> web.StreamResponse:
    """Stream a blocking chunk generator, read on a thread of its own.

    The first chunk is read before the response starts, so a store that fails up front becomes
    a 503 with a JSON body; a failure later aborts the transfer (the client sees a truncated
    chunked body, never a complete-looking one).
    """
    loop = asyncio.get_running_loop()
    # A dedicated thread: the embedded engine ties an open stream to the thread that opened it.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="report")
    chunks = open_chunks()
    try:
        try:
            first = await loop.run_in_executor(pool, next, chunks, None)
        except StoreError as exc:
            return error_response(503, "store_unavailable", str(exc))
        response = web.StreamResponse(status=200, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = first
        while chunk is not None:
            await response.write(chunk)
            chunk = await loop.run_in_executor(pool, next, chunks, None)
        await response.write_eof()
        return response
    except StoreError as exc:
        log.error("report stream failed midway: %s", exc)
        raise
    finally:
        await loop.run_in_executor(pool, chunks.close)  # type: ignore[attr-defined]
        pool.shutdown(wait=False)


async def report(request: web.Request) -> web.StreamResponse:
    try:
        filters = parse_report_params(query_params(request), now=datetime.now(UTC))
    except BadParameter as exc:
        return error_response(400, "bad_parameter", str(exc), param=exc.param)
    store = request.app[STORE_KEY]
    headers = {
        "Content-Type": content_type(filters.fmt),
        "Content-Disposition": f'attachment; filename="{download_filename(filters)}"',
        "Cache-Control": "no-store",
    }
    return await stream_chunks(request, lambda: report_chunks(store, filters), headers)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def build_http_app(store: Store, metrics_: Metrics) -> web.Application:
    app = web.Application()
    app[STORE_KEY] = store
    app[METRICS_KEY] = metrics_
    app.router.add_get(REPORT_PATH, report)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    from query.export_http import add_export_routes  # here: export_http imports this module

    add_export_routes(app)
    return app


class HttpServer:
    """Runs the aiohttp app on host:port (port 0: any free port) until stopped."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        # Filter values may be long (4,096 characters of UTF-8, repeated): allow long request lines.
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, max_line_size=1 << 20, max_field_size=1 << 16
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


__all__ = ["REPORT_PATH", "HttpServer", "build_http_app"]
