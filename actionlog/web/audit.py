"""Every data access over HTTP is recorded in ``{db}.access_log`` once its response is complete:
the caller's token name (never the token), the route, the known parameters, rows, bytes, status.
Refused requests are recorded too (an unknown caller as an empty name)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from actionlog.access.audit import Access, filters_json, record_access
from actionlog.core.errors import StoreError
from actionlog.query.filters import MULTI_KEYS, SINGLE_KEYS
from actionlog.web.context import POOL_KEY, PRINCIPAL, ROWS
from actionlog.web.streaming import query_params

__all__ = ["AUDITED_PREFIXES", "audit"]

log = logging.getLogger(__name__)

AUDITED_PREFIXES = ("/reports/", "/admin/")
KNOWN = frozenset({*MULTI_KEYS, *SINGLE_KEYS, "cursor", "q", "count"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def audit(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(AUDITED_PREFIXES):
        return await handler(request)
    status = 500
    response: web.StreamResponse | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        principal = request.get(PRINCIPAL)
        access = Access(
            token_name=principal.name if principal else "",
            role=principal.role if principal else "",
            method=request.method,
            route=request.path,
            filters=filters_json(query_params(request), KNOWN),
            status=status,
            rows=int(request.get(ROWS, 0)),
            bytes=int(getattr(response, "body_length", 0) or 0),
        )
        await _record(request.app, access)


async def _record(app: web.Application, access: Access) -> None:
    def write() -> None:
        with app[POOL_KEY].client(wait=30) as store:
            record_access(store, access)

    try:
        await asyncio.shield(asyncio.to_thread(write))
    except StoreError as exc:  # the response went out; say loudly that its record did not
        log.error("access not recorded (%s %s by %r): %s", access.method, access.route, access.token_name, exc)
