"""The worker's two HTTP applications: the public one (reports, sign-in, /metrics, /healthz),
behind access control, and the loopback one for local clients of the store the worker holds."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from actionlog.access.guard import Authenticator
from actionlog.core.metrics import Metrics
from actionlog.core.settings import HttpSettings
from actionlog.store.pool import StorePool
from actionlog.web.audit import audit
from actionlog.web.auth import add_auth_routes, authenticate, keep_credentials_fresh
from actionlog.web.choices import add_choice_routes
from actionlog.web.context import AUTH_KEY, HTTP_KEY, KEY_KEY, METRICS_KEY, POOL_KEY, RELOAD_LOCK_KEY
from actionlog.web.local import add_local_routes
from actionlog.web.reports import add_report_routes
from actionlog.web.ui import add_ui_routes

__all__ = ["build_local_app", "build_public_app"]


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def build_public_app(
    pool: StorePool, metrics_: Metrics, settings: HttpSettings, authenticator: Authenticator | None = None
) -> web.Application:
    """Reports, their choice lists, the report pages, sign-in, /metrics and /healthz on the store
    ``pool``, every data route behind a token or a session (credentials reloaded from the store
    while the app runs)."""
    app = web.Application(middlewares=[audit, authenticate])
    app[POOL_KEY] = pool
    app[METRICS_KEY] = metrics_
    app[HTTP_KEY] = settings
    app[AUTH_KEY] = authenticator or Authenticator()
    app[RELOAD_LOCK_KEY] = asyncio.Lock()
    app.cleanup_ctx.append(keep_credentials_fresh)
    add_report_routes(app)
    add_choice_routes(app)
    add_auth_routes(app)
    add_ui_routes(app)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


def build_local_app(pool: StorePool, key: str) -> web.Application:
    """The statement routes for local clients that know ``key``."""
    app = web.Application(client_max_size=64 << 20)
    app[POOL_KEY] = pool
    app[KEY_KEY] = key
    add_local_routes(app)
    app.router.add_get("/healthz", healthz)
    return app
