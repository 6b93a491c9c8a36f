"""Runs an aiohttp application on an address until stopped."""

from __future__ import annotations

from aiohttp import web

__all__ = ["HttpServer"]


class HttpServer:
    """Runs ``app`` on host:port (port 0: any free port) until stopped."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Start listening; returns the base URL (loopback for a wildcard address).

        Raises:
            OSError: the address cannot be bound (port taken).
        """
        # Filter values may be long (4,096 characters of UTF-8, repeated): allow long request lines.
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, max_line_size=1 << 20, max_field_size=1 << 16
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await self.stop()
            raise
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
