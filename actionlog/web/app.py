"""The worker's two HTTP applications: the public one (reports, /metrics, /healthz) and the
loopback one for local clients of the store the worker holds."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from actionlog.core.metrics import Metrics
from actionlog.store.pool import StorePool
from actionlog.web.context import KEY_KEY, METRICS_KEY, POOL_KEY
from actionlog.web.local import add_local_routes
from actionlog.web.reports import add_report_routes

__all__ = ["build_local_app", "build_public_app"]


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def build_public_app(pool: StorePool, metrics_: Metrics) -> web.Application:
    """Reports, /metrics and /healthz on the store ``pool``."""
    app = web.Application()
    app[POOL_KEY] = pool
    app[METRICS_KEY] = metrics_
    add_report_routes(app)
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
