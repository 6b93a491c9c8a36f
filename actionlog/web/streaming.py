"""Helpers of every route: query parameters, JSON errors, and streaming a blocking body."""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import logging
import secrets
import sys
import termios
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
from aiohttp import web

from actionlog.core.errors import BadParameter, QueryLimitExceeded, StoreError, StoreUnavailable
from actionlog.store.pool import PoolExhausted

__all__ = [
    "DownloadCut",
    "error_response",
    "json_response",
    "query_params",
    "store_error_response",
    "stream_chunks",
]

log = logging.getLogger(__name__)

_CHECK_EVERY = 0.5
"""Seconds between two looks at whether a waiting write's client took data."""


class DownloadCut(ConnectionError):
    """The client took no data for the write timeout: the download was cut."""


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


def store_error_response(exc: StoreError, *, public: bool = True) -> web.Response:
    """429 when every store client is busy, 503 for a store that cannot be reached or a report over
    its limits, 500 for one that failed a statement.

    A public answer never echoes the engine's words (they may name tables, settings, hosts): it
    says what happened and carries an ``incident`` id, logged with the full error. The loopback
    listener's answers (local clients, who can read the store's files anyway) carry the error itself.
    """
    if isinstance(exc, PoolExhausted):
        response = error_response(429, "busy", "too many reports are being downloaded; try again in a moment")
        response.headers["Retry-After"] = "5"
        return response
    if isinstance(exc, StoreUnavailable):
        status, error, message = 503, "store_unavailable", "the store cannot be reached; try again later"
    elif isinstance(exc, QueryLimitExceeded):
        status, error = 503, "limit_exceeded"
        message = "the report exceeds its time or memory limit; narrow the filters"
    else:
        status, error, message = 500, "store_error", "the store failed to run the report"
    if not public:
        return error_response(status, error, str(exc), code=exc.code)
    incident = secrets.token_hex(6)
    log.error("answered %d %s (incident %s): %s", status, error, incident, exc)
    return error_response(status, error, message, incident=incident)


class _Backlog:
    """Bytes written to a connection that its client has not taken yet: in the transport's buffer
    and, on Linux, in the socket's send queue (``SIOCOUTQ``: not yet acknowledged)."""

    def __init__(self, transport: asyncio.BaseTransport | None) -> None:
        self.transport = transport if isinstance(transport, asyncio.WriteTransport) else None
        sock = transport.get_extra_info("socket") if transport is not None else None
        self.fd = sock.fileno() if sock is not None else -1

    def __call__(self) -> int:
        size = self.transport.get_write_buffer_size() if self.transport is not None else 0
        if self.fd >= 0:
            try:
                out = fcntl.ioctl(self.fd, termios.TIOCOUTQ, b"\0\0\0\0")
                size += int.from_bytes(out, sys.byteorder)
            except OSError:
                pass
        return size


async def _send(request: web.Request, write: Awaitable[None], timeout: float) -> None:
    """Await a write while the client keeps taking data; cut it once the client took nothing for
    ``timeout`` seconds (however slow, a client that reads is never cut)."""
    task = asyncio.ensure_future(write)
    backlog = _Backlog(request.transport)
    loop = asyncio.get_running_loop()
    left, since = backlog(), loop.time()
    while True:
        done, _ = await asyncio.wait({task}, timeout=min(_CHECK_EVERY, timeout))
        if done:
            task.result()
            return
        now_left = backlog()
        if now_left < left:
            since = loop.time()  # the client took some: progress
        left = now_left
        if loop.time() - since >= timeout:
            task.cancel()
            raise DownloadCut(f"the client took no data for {timeout:g}s")


async def stream_chunks(
    request: web.Request,
    open_chunks: Callable[[], Iterator[bytes]],
    headers: dict[str, str],
    *,
    write_timeout: float,
    public: bool = True,
    on_cut: Callable[[], None] | None = None,
) -> web.StreamResponse:
    """Stream a blocking chunk generator, read on a thread of its own.

    ``open_chunks`` runs in that thread before the response starts (it may still add to
    ``headers``), and the first chunk is read then too, so a store that fails up front becomes a
    JSON error; a failure later aborts the transfer (the client sees a truncated chunked body,
    never a complete-looking one). A client that takes no data for ``write_timeout`` seconds is
    cut off the same way (``on_cut`` is called), and the store client it held goes back to the pool.
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
            return store_error_response(exc, public=public)
        response = web.StreamResponse(status=200, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            chunk = first
            while chunk is not None:
                await _send(request, response.write(chunk), write_timeout)
                chunk = await loop.run_in_executor(pool, next, chunks, None)
            await _send(request, response.write_eof(), write_timeout)
        except (DownloadCut, StoreError) as exc:
            # Headers are out: all that is left is to cut the transfer short, visibly.
            log.warning("download of %s cut: %s", request.path, exc)
            if request.transport is not None:
                request.transport.abort()
            if isinstance(exc, DownloadCut) and on_cut is not None:
                on_cut()
        except ConnectionError:  # the client went away: nothing more to send to anyone
            log.info("client of %s left before the end of the body", request.path)
        return response
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await loop.run_in_executor(pool, close)
        pool.shutdown(wait=False)
