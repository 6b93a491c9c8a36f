"""The report over HTTP (docs/report.md), as the caller's scope sees it (docs/access.md):

* ``GET /reports/content-actions-log``: the whole report, streamed; with ``limit=N`` one page of
  at most N rows (10,000 at the most), and a ``Link: <…>; rel="next"`` header when more rows
  match (follow it: its ``cursor`` is opaque);
* ``GET /reports/content-actions-log/count``: ``{"rows": N}``, the rows the same filters match.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from aiohttp import web

from actionlog.access.guard import check_panoramas
from actionlog.access.tokens import Principal
from actionlog.core.errors import BadParameter, Forbidden, StoreError
from actionlog.core.metrics import Metrics
from actionlog.query.filters import ReportFilters, parse_report_params
from actionlog.query.framing import RowCounter, content_type, download_filename
from actionlog.query.pages import MAX_PAGE_ROWS, Cursor, decode_cursor, encode_cursor, open_page
from actionlog.query.report import count_rows, report_chunks
from actionlog.store.pool import StorePool
from actionlog.web.context import HTTP_KEY, METRICS_KEY, POOL_KEY, PRINCIPAL, ROWS
from actionlog.web.streaming import error_response, json_response, query_params, store_error_response, stream_chunks

__all__ = ["COUNT_PATH", "REPORT_PATH", "add_report_routes"]

REPORT_PATH = "/reports/content-actions-log"
COUNT_PATH = f"{REPORT_PATH}/count"


async def _request_filters(request: web.Request) -> tuple[ReportFilters, Cursor | None] | web.Response:
    """The request's filters (and cursor), checked against the caller's scope; or the error response."""
    principal: Principal = request[PRINCIPAL]
    params = query_params(request)
    cursors = params.pop("cursor", [])
    try:
        if len(cursors) > 1:
            raise BadParameter("cursor", "may be given only once")
        cursor = decode_cursor(cursors[0]) if cursors else None
        filters = parse_report_params(params, now=datetime.now(UTC))
        if cursor is not None and filters.limit is None:
            raise BadParameter("cursor", "goes with limit (follow the Link of the previous page)")
    except BadParameter as exc:
        return error_response(400, "bad_parameter", str(exc), param=exc.param)
    if principal.scope.limited and filters.panoramas:
        pool = request.app[POOL_KEY]

        def check() -> None:
            with pool.client(wait=10) as store:
                check_panoramas(store, filters.panoramas, principal.scope)

        try:
            await asyncio.to_thread(check)
        except Forbidden as exc:
            return error_response(403, "forbidden", str(exc), param="panorama")
        except StoreError as exc:
            return store_error_response(exc)
    return filters, cursor


async def report(request: web.Request) -> web.StreamResponse:
    checked = await _request_filters(request)
    if isinstance(checked, web.Response):
        return checked
    filters, cursor = checked
    principal: Principal = request[PRINCIPAL]
    pool = request.app[POOL_KEY]
    metrics = request.app[METRICS_KEY]
    headers = {
        "Content-Type": content_type(filters.fmt),
        "Content-Disposition": f'attachment; filename="{download_filename(filters)}"',
        "Cache-Control": "no-store",
    }
    counter = RowCounter(filters.fmt)

    def whole() -> Iterator[bytes]:
        # No wait: beyond ACTIONLOG_HTTP_MAX_DOWNLOADS at once, the answer is 429.
        with pool.client() as store, _downloading(metrics):
            yield from report_chunks(store, filters, principal.scope, counter)
        request[ROWS] = counter.rows

    opener: Callable[[], Iterator[bytes]] = whole
    if filters.limit is not None:
        opener = _page_opener(request, pool, filters, cursor, headers, counter)
    response = await stream_chunks(
        request,
        opener,
        headers,
        write_timeout=request.app[HTTP_KEY].write_timeout,
        on_cut=metrics.http_downloads_cut.inc,
    )
    if response.status == 429:
        metrics.http_refused.labels("busy").inc()
    return response


@contextlib.contextmanager
def _downloading(metrics: Metrics) -> Iterator[None]:
    """Counts a download in ``actionlog_http_downloads`` while it holds a store client."""
    metrics.http_downloads.inc()
    try:
        yield
    finally:
        metrics.http_downloads.dec()


def _page_opener(
    request: web.Request,
    pool: StorePool,
    filters: ReportFilters,
    cursor: Cursor | None,
    headers: dict[str, str],
    counter: RowCounter,
) -> Callable[[], Iterator[bytes]]:
    """Opens one page (in the streaming thread): finds its keys, sets the Link header, and
    returns its body; the store client stays held until the body is read."""
    size = min(filters.limit or MAX_PAGE_ROWS, MAX_PAGE_ROWS)
    scope = request[PRINCIPAL].scope

    def opener() -> Iterator[bytes]:
        stack = contextlib.ExitStack()
        try:
            store = stack.enter_context(pool.client())
            stack.enter_context(_downloading(request.app[METRICS_KEY]))
            page = open_page(store, filters, scope, size, cursor, counter)
        except BaseException:
            stack.close()
            raise
        if page.next_cursor is not None:
            url = request.url.update_query({"cursor": encode_cursor(page.next_cursor)})
            headers["Link"] = f'<{url}>; rel="next"'

        def body() -> Iterator[bytes]:
            with stack:
                yield from page.chunks
            request[ROWS] = counter.rows

        return body()

    return opener


async def count(request: web.Request) -> web.StreamResponse:
    checked = await _request_filters(request)
    if isinstance(checked, web.Response):
        return checked
    filters, _ = checked
    principal: Principal = request[PRINCIPAL]
    pool = request.app[POOL_KEY]

    def run() -> int:
        with pool.client(wait=10) as store:
            return count_rows(store, filters, principal.scope)

    try:
        rows = await asyncio.to_thread(run)
    except StoreError as exc:
        return store_error_response(exc)
    return json_response({"rows": rows})


def add_report_routes(app: web.Application) -> None:
    app.router.add_get(REPORT_PATH, report)
    app.router.add_get(COUNT_PATH, count)
