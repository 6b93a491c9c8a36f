"""``GET /reports/content-actions-log``: the report over HTTP (docs/report.md)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from aiohttp import web

from actionlog.core.errors import BadParameter
from actionlog.query.filters import parse_report_params
from actionlog.query.framing import content_type, download_filename
from actionlog.query.report import report_chunks
from actionlog.web.context import POOL_KEY
from actionlog.web.streaming import error_response, query_params, stream_chunks

__all__ = ["REPORT_PATH", "add_report_routes"]

REPORT_PATH = "/reports/content-actions-log"


async def report(request: web.Request) -> web.StreamResponse:
    try:
        filters = parse_report_params(query_params(request), now=datetime.now(UTC))
    except BadParameter as exc:
        return error_response(400, "bad_parameter", str(exc), param=exc.param)
    pool = request.app[POOL_KEY]
    headers = {
        "Content-Type": content_type(filters.fmt),
        "Content-Disposition": f'attachment; filename="{download_filename(filters)}"',
        "Cache-Control": "no-store",
    }

    def body() -> Iterator[bytes]:
        with pool.client() as store:
            yield from report_chunks(store, filters)

    return await stream_chunks(request, body, headers)


def add_report_routes(app: web.Application) -> None:
    app.router.add_get(REPORT_PATH, report)
