"""Runs an aiohttp application on an address until stopped, within the HTTP limits
(docs/operations.md, "HTTP limits"):

* the request line and headers together take at most `MAX_HEAD` bytes (a longer request line is
  400, longer headers 431), with at most `MAX_HEADERS` headers;
* a request's line and headers must arrive within ``header_timeout`` of their first byte (408);
* a connection waits at most ``idle_timeout`` for its first or next request (then it is closed);
* at most ``max_connections`` connections are open at once (one more is answered 503 and closed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from actionlog.core.metrics import Metrics
from actionlog.core.settings import HttpSettings

__all__ = ["MAX_HEAD", "MAX_HEADERS", "HttpServer"]

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
"""Bytes of a request line and its headers, together."""
MAX_HEADERS = 64
"""Headers of one request."""
_MAX_FIELD = 8 * 1024

_BUSY = b'{"error":"busy","message":"too many connections; try again in a moment"}\n'
_TOO_MANY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BUSY), _BUSY)
)
_LATE = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def _head_size(request: web.BaseRequest) -> int:
    line = len(request.method) + len(request.raw_path.encode("utf-8", "surrogateescape")) + 11
    return line + sum(len(k) + len(v) + 4 for k, v in request.raw_headers) + 2


@web.middleware
async def _head_limit(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if _head_size(request) > MAX_HEAD:
        return web.json_response(
            {"error": "head_too_large", "message": f"the request line and headers exceed {MAX_HEAD} bytes"},
            status=431,
        )
    return await handler(request)


class _Refuse(asyncio.Protocol):
    """Answers 503 at once and closes: the connection cap is reached."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_TOO_MANY)
        transport.close()


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the header-read timeout.

    A timer starts at the first byte of a request head and stops when aiohttp has parsed the
    head; if it fires first, the client gets 408 and the connection is closed.
    """

    def __init__(self, handler: Any, timeout: float, on_late: Callable[[], None]) -> None:
        self.handler = handler
        self.timeout = timeout
        self.on_late = on_late
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.handler.connection_made(transport)

    def _awaiting_head(self) -> bool:
        # aiohttp's own state (aiohttp is pinned): no request queued, none being handled.
        return not self.handler._messages and not self.handler._request_in_progress

    def data_received(self, data: bytes) -> None:
        parsed = self.handler._request_count
        self.handler.data_received(data)
        if self.handler._request_count != parsed:
            self._stop_timer()
        elif data and self._timer is None and self._awaiting_head():
            self._timer = asyncio.get_running_loop().call_later(self.timeout, self._late)

    def _late(self) -> None:
        self._timer = None
        transport = self.transport
        if transport is not None and not transport.is_closing() and self._awaiting_head():
            self.on_late()
            transport.write(_LATE)
            transport.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def eof_received(self) -> bool | None:
        result: bool | None = self.handler.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self.handler.connection_lost(exc)

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()


class HttpServer:
    """Runs ``app`` on host:port (port 0: any free port) until stopped.

    Args:
        app: the application.
        host: the address to bind.
        port: the port (0: any free one).
        limits: the HTTP limits (``ACTIONLOG_HTTP_*``).
        metrics: counts refused requests (``actionlog_http_refused_total``), when given.
    """

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        limits: HttpSettings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.limits = limits if limits is not None else HttpSettings()
        self.metrics = metrics
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None

    def _refused(self, why: str) -> None:
        if self.metrics is not None:
            self.metrics.http_refused.labels(why).inc()

    def _protocol(self) -> asyncio.BaseProtocol:
        assert self._runner is not None and self._runner.server is not None
        inner = self._runner.server
        if len(inner.connections) >= self.limits.max_connections:
            self._refused("connections")
            return _Refuse()
        return _Guarded(inner(), self.limits.header_timeout, lambda: self._refused("head_timeout"))

    async def start(self) -> str:
        """Start listening; returns the base URL (loopback for a wildcard address).

        Raises:
            OSError: the address cannot be bound (port taken).
        """
        if _head_limit not in self.app.middlewares:
            self.app.middlewares.insert(0, _head_limit)
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            max_line_size=MAX_HEAD,
            max_field_size=_MAX_FIELD,
            max_headers=MAX_HEADERS,
            keepalive_timeout=self.limits.idle_timeout,
        )
        await self._runner.setup()
        try:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(self._protocol, self.host, self.port, reuse_address=True)
        except BaseException:
            await self.stop()
            raise
        sockets: list[Any] = list(self._server.sockets or ())
        if sockets:
            self.port = sockets[0].getsockname()[1]
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
