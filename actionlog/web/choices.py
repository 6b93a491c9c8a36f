"""``GET /reports/content-actions-log/choices/{list}``: the page's choice lists, scoped like the
report (docs/report.md#choices): ``panoramas`` (``[{"id", "name"}]``), ``contents?q=&limit=``
(``[{"id", "title", "type"}]``), ``course-groups`` and ``content-types`` (lists of strings),
``sources?type=&type=`` (the catalog's Sources of those Types) and ``types``."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from actionlog.access.tokens import Principal
from actionlog.core.catalog import TYPES, find_type
from actionlog.core.errors import StoreError
from actionlog.query.choices import (
    MAX_CHOICES,
    content_types_query,
    contents_query,
    course_groups_query,
    panoramas_query,
    sources_for,
)
from actionlog.query.sql import Query
from actionlog.web.context import POOL_KEY, PRINCIPAL, ROWS
from actionlog.web.reports import REPORT_PATH
from actionlog.web.streaming import error_response, json_response, store_error_response

__all__ = ["CHOICES_PATH", "add_choice_routes"]

CHOICES_PATH = f"{REPORT_PATH}/choices"


def _query(request: web.Request, kind: str, principal: Principal, db: str, table: str) -> Query | None:
    scope = principal.scope
    if kind == "panoramas":
        return panoramas_query(db, table, scope)
    if kind == "course-groups":
        return course_groups_query(db, table, scope)
    if kind == "content-types":
        return content_types_query(db, table, scope)
    if kind == "contents":
        return contents_query(db, table, scope, request.query.get("q", "")[:200], _limit(request))
    return None


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_CHOICES:
        raise ValueError(f"limit must be 1..{MAX_CHOICES}")
    return int(raw)


def _shape(kind: str, rows: list[tuple[Any, ...]]) -> list[Any]:
    if kind == "panoramas":
        return [{"id": r[0], "name": r[1]} for r in rows]
    if kind == "contents":
        return [{"id": r[0], "title": r[1], "type": r[2]} for r in rows]
    return [r[0] for r in rows]


async def choices(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    principal: Principal = request[PRINCIPAL]
    if kind == "types":
        return json_response(list(TYPES))
    if kind == "sources":
        types = [find_type(t) for t in request.query.getall("type", [])]
        if None in types:
            return error_response(400, "bad_parameter", "unknown type", param="type")
        return json_response(sources_for([t for t in types if t]))
    pool = request.app[POOL_KEY]

    def run() -> list[Any] | None:
        with pool.client(wait=10) as store:
            q = _query(request, kind, principal, store.settings.database, store.settings.table)
            return None if q is None else _shape(kind, store.query_rows(q.sql, q.params))

    try:
        found = await asyncio.to_thread(run)
    except ValueError as exc:
        return error_response(400, "bad_parameter", str(exc), param="limit")
    except StoreError as exc:
        return store_error_response(exc)
    if found is None:
        return error_response(404, "not_found", f"no choice list {kind!r}")
    request[ROWS] = len(found)
    return json_response(found)


def add_choice_routes(app: web.Application) -> None:
    app.router.add_get(CHOICES_PATH + "/{kind}", choices)
