"""Helpers of every route: query parameters, JSON errors, and streaming a blocking body."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from aiohttp import web

from actionlog.core.errors import BadParameter, StoreError, StoreUnavailable
from actionlog.store.pool import PoolExhausted

__all__ = ["error_response", "json_response", "query_params", "store_error_response", "stream_chunks"]

log = logging.getLogger(__name__)


def query_params(request: web.Request) -> dict[str, list[str]]:
    """The query string as name -> every value given, in order."""
    params: dict[str, list[str]] = {}
    for key, value in request.query.items():
        params.setdefault(key, []).append(value)
    return params


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body, default=str),
        content_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def error_response(
    status: int, error: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    """A JSON error body ``{"error": code, "message": text, ...}``."""
    return json_response({"error": error, "message": message, **extra}, status, headers)


def store_error_response(exc: StoreError) -> web.Response:
    """429 when every store client is busy, 503 for a store that cannot be reached, 500 for one
    that failed a statement."""
    if isinstance(exc, PoolExhausted):
        return error_response(429, "busy", str(exc))
    if isinstance(exc, StoreUnavailable):
        return error_response(503, "store_unavailable", str(exc), code=exc.code)
    return error_response(500, "store_error", str(exc), code=exc.code)


async def stream_chunks(
    request: web.Request,
    open_chunks: Callable[[], Iterator[bytes]],
    headers: dict[str, str],
) -> web.StreamResponse:
    """Stream a blocking chunk generator, read on a thread of its own.

    ``open_chunks`` runs in that thread before the response starts (it may still add to
    ``headers``), and the first chunk is read then too, so a store that fails up front becomes a
    JSON error; a failure later aborts the transfer (the client sees a truncated chunked body,
    never a complete-looking one).
    """
    loop = asyncio.get_running_loop()
    # A dedicated thread: the embedded engine ties an open stream to the thread that opened it.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="stream")
    chunks: Iterator[bytes] | None = None
    try:
        try:
            chunks = await loop.run_in_executor(pool, open_chunks)
            first = await loop.run_in_executor(pool, next, chunks, None)
        except BadParameter as exc:
            return error_response(400, "bad_parameter", str(exc), param=exc.param)
        except StoreError as exc:
            return store_error_response(exc)
        response = web.StreamResponse(status=200, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = first
        try:
            while chunk is not None:
                await response.write(chunk)
                chunk = await loop.run_in_executor(pool, next, chunks, None)
            await response.write_eof()
        except ConnectionError:  # the client went away: nothing more to send to anyone
            log.info("client of %s left before the end of the body", request.path)
        return response
    except StoreError as exc:
        log.error("stream failed midway: %s", exc)
        raise
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await loop.run_in_executor(pool, close)
        pool.shutdown(wait=False)
