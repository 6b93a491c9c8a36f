"""``GET /reports/content-actions-log``: the report over HTTP (docs/report.md), as the caller's
scope sees it (docs/access.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

from aiohttp import web

from actionlog.access.guard import check_panoramas
from actionlog.access.tokens import Principal
from actionlog.core.errors import BadParameter, Forbidden, StoreError
from actionlog.query.filters import parse_report_params
from actionlog.query.framing import RowCounter, content_type, download_filename
from actionlog.query.report import report_chunks
from actionlog.web.context import POOL_KEY, PRINCIPAL, ROWS
from actionlog.web.streaming import error_response, query_params, store_error_response, stream_chunks

__all__ = ["REPORT_PATH", "add_report_routes"]

REPORT_PATH = "/reports/content-actions-log"


async def report(request: web.Request) -> web.StreamResponse:
    principal: Principal = request[PRINCIPAL]
    try:
        filters = parse_report_params(query_params(request), now=datetime.now(UTC))
    except BadParameter as exc:
        return error_response(400, "bad_parameter", str(exc), param=exc.param)
    pool = request.app[POOL_KEY]
    if principal.scope.limited and filters.panoramas:

        def check() -> None:
            with pool.client(wait=10) as store:
                check_panoramas(store, filters.panoramas, principal.scope)

        try:
            await asyncio.to_thread(check)
        except Forbidden as exc:
            return error_response(403, "forbidden", str(exc), param="panorama")
        except StoreError as exc:
            return store_error_response(exc)
    headers = {
        "Content-Type": content_type(filters.fmt),
        "Content-Disposition": f'attachment; filename="{download_filename(filters)}"',
        "Cache-Control": "no-store",
    }
    counter = RowCounter(filters.fmt)

    def body() -> Iterator[bytes]:
        with pool.client() as store:
            yield from report_chunks(store, filters, principal.scope, counter)
        request[ROWS] = counter.rows

    return await stream_chunks(request, body, headers)


def add_report_routes(app: web.Application) -> None:
    app.router.add_get(REPORT_PATH, report)
