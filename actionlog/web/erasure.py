"""``POST /admin/erasures``: an admin erases a learner over HTTP, the same erasure as
``actionlog erase`` (docs/privacy.md), audited like every data route.

The body is JSON, ``{"learner": "ID or EMAIL", "dry_run": false}``: the key never travels in the URL,
so neither the access log nor a proxy's log records it. Only an admin token in the
``Authorization`` header may call it (a page session may not: a cookie is sent by any page that
posts a form to the worker).
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from actionlog.access.tokens import Principal
from actionlog.core.errors import StoreError
from actionlog.store.erasure import erase
from actionlog.web.context import ERASURE_KEY, POOL_KEY, PRINCIPAL, ROWS
from actionlog.web.streaming import error_response, json_response, store_error_response

__all__ = ["ERASURES_PATH", "add_erasure_routes"]

ERASURES_PATH = "/admin/erasures"


async def erase_learner(request: web.Request) -> web.StreamResponse:
    principal: Principal = request[PRINCIPAL]
    if not principal.admin:
        return error_response(403, "forbidden", "erasing a learner needs an admin token")
    if not request.headers.get("Authorization"):
        return error_response(403, "forbidden", "erasing a learner needs an admin token in the Authorization header")
    key = request.app.get(ERASURE_KEY)
    if key is None:
        return error_response(503, "not_configured", "ACTIONLOG_ERASURE_KEY is not set on this worker")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return error_response(400, "bad_request", 'the body must be JSON: {"learner": "ID or EMAIL", "dry_run": false}')
    learner = body.get("learner") if isinstance(body, dict) else None
    dry_run = body.get("dry_run", False) if isinstance(body, dict) else False
    if not isinstance(learner, str) or not learner.strip():
        return error_response(400, "bad_request", '"learner" must be a learner id or an email')
    if not isinstance(dry_run, bool):
        return error_response(400, "bad_request", '"dry_run" must be true or false')
    pool = request.app[POOL_KEY]

    def run() -> tuple[str, int, dict[str, int]]:
        with pool.client(wait=30) as store:
            ch = store.settings
            result = erase(store, ch.database, ch.table, key, learner, f"token:{principal.name}", dry_run=dry_run)
        return ("dry run: " if dry_run else "") + result.summary(), result.rows, result.counts

    try:
        summary, rows, counts = await asyncio.to_thread(run)
    except StoreError as exc:
        return store_error_response(exc)
    request[ROWS] = rows
    return json_response({"summary": summary, "dry_run": dry_run, "rows": rows, "counts": counts})


def add_erasure_routes(app: web.Application) -> None:
    app.router.add_post(ERASURES_PATH, erase_learner)
