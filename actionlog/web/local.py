"""The worker's loopback routes for local clients (`actionlog.store.rpc`): run a statement on the
store the worker holds. Only served on the 127.0.0.1 listener, only with the worker's key."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Iterator

import orjson
from aiohttp import web

from actionlog.core.errors import StoreError
from actionlog.store import read_all
from actionlog.store.rpc import AUTH_SCHEME, CLOCK_PATH, COMMAND_PATH, ROWS_PATH, STREAM_PATH, Statement
from actionlog.web.context import KEY_KEY, POOL_KEY, WRITE_TIMEOUT_KEY
from actionlog.web.streaming import error_response, json_response, store_error_response, stream_chunks

__all__ = ["add_local_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _authorized(request: web.Request) -> bool:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return scheme == AUTH_SCHEME and hmac.compare_digest(key.encode(), request.app[KEY_KEY].encode())


def _guard(handler: Callable[[web.Request, Statement], Awaitable[web.StreamResponse]], *, stream: bool) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not _authorized(request):
            return error_response(401, "unauthorized", "a local client key is needed")
        if request.content_type != "application/json":
            return error_response(415, "unsupported_media_type", "send application/json")
        try:
            statement = Statement.from_json(orjson.loads(await request.read()), stream=stream)
        except (orjson.JSONDecodeError, ValueError) as exc:
            return error_response(400, "bad_request", str(exc))
        try:
            return await handler(request, statement)
        except StoreError as exc:
            return store_error_response(exc, public=False)

    return guarded


async def _command(request: web.Request, statement: Statement) -> web.StreamResponse:
    pool = request.app[POOL_KEY]

    def run() -> None:
        with pool.client(wait=30) as store:
            store.command(statement.sql, statement.params)

    await asyncio.to_thread(run)
    return json_response({"ok": True})


async def _rows(request: web.Request, statement: Statement) -> web.StreamResponse:
    pool = request.app[POOL_KEY]

    def run() -> list[tuple[object, ...]]:
        with pool.client(wait=30) as store:
            return store.query_rows(statement.sql, statement.params)

    return json_response({"rows": await asyncio.to_thread(run)})


async def _clock(request: web.Request, statement: Statement) -> web.StreamResponse:
    pool = request.app[POOL_KEY]

    def run() -> int:
        with pool.client(wait=30) as store:
            return store.clock_ms()

    return json_response({"now_ms": await asyncio.to_thread(run)})


async def _stream(request: web.Request, statement: Statement) -> web.StreamResponse:
    pool = request.app[POOL_KEY]

    def body() -> Iterator[bytes]:
        with pool.client(wait=30) as store:
            yield from read_all(store, statement.sql, statement.params, statement.fmt)

    headers = {"Content-Type": "application/octet-stream", "Cache-Control": "no-store"}
    return await stream_chunks(request, body, headers, write_timeout=request.app[WRITE_TIMEOUT_KEY], public=False)


def add_local_routes(app: web.Application) -> None:
    app.router.add_post(COMMAND_PATH, _guard(_command, stream=False))
    app.router.add_post(ROWS_PATH, _guard(_rows, stream=False))
    app.router.add_post(STREAM_PATH, _guard(_stream, stream=True))
    app.router.add_post(CLOCK_PATH, _guard(_clock, stream=False))
