"""The worker's two HTTP applications: the public one (reports, sign-in, /metrics, /healthz,
/readyz), behind access control, and the loopback one for local clients of the store the worker
holds."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from actionlog.access.guard import Authenticator
from actionlog.core.metrics import Metrics
from actionlog.core.settings import HttpSettings
from actionlog.sink.health import SinkHealth
from actionlog.store.pool import StorePool
from actionlog.web.audit import audit
from actionlog.web.auth import add_auth_routes, authenticate, keep_credentials_fresh
from actionlog.web.choices import add_choice_routes
from actionlog.web.context import (
    AUTH_KEY,
    ERASURE_KEY,
    HEALTH_KEY,
    HTTP_KEY,
    KEY_KEY,
    METRICS_KEY,
    POOL_KEY,
    RELOAD_LOCK_KEY,
    WRITE_TIMEOUT_KEY,
)
from actionlog.web.erasure import add_erasure_routes
from actionlog.web.local import add_local_routes
from actionlog.web.reports import add_report_routes
from actionlog.web.streaming import json_response
from actionlog.web.ui import add_ui_routes

__all__ = ["build_local_app", "build_public_app"]


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process serves."""
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 while the sink lands (or this worker runs none), 503 while it has been failing
    or stuck for more than `actionlog.sink.health.NOT_READY_AFTER` seconds."""
    health = request.app.get(HEALTH_KEY)
    if health is None:
        return json_response({"status": "ready", "sink": "off"})
    state = health.state()
    body = {"status": "ready" if state.ready else "not_ready", "sink": state.state, "seconds": round(state.seconds, 1)}
    return json_response(body, 200 if state.ready else 503)


def build_public_app(
    pool: StorePool,
    metrics_: Metrics,
    settings: HttpSettings,
    authenticator: Authenticator | None = None,
    *,
    health: SinkHealth | None = None,
    erasure_key: bytes | None = None,
) -> web.Application:
    """Reports, their choice lists, the report pages, sign-in, /metrics, /healthz and /readyz on
    the store ``pool``, every data route behind a token or a session (credentials reloaded from
    the store while the app runs).

    Args:
        pool: store clients of the downloads (its size caps them: 429 beyond).
        metrics_: the worker's metrics.
        settings: the HTTP settings (write timeout of downloads, ...).
        authenticator: the credentials (a fresh one when None).
        health: the sink's health, for ``/readyz`` (None when this worker runs no sink).
        erasure_key: the suppression list's key (None: ``POST /admin/erasures`` is refused).
    """
    app = web.Application(middlewares=[audit, authenticate])
    app[POOL_KEY] = pool
    app[METRICS_KEY] = metrics_
    app[HTTP_KEY] = settings
    app[AUTH_KEY] = authenticator or Authenticator()
    app[RELOAD_LOCK_KEY] = asyncio.Lock()
    if health is not None:
        app[HEALTH_KEY] = health
    if erasure_key is not None:
        app[ERASURE_KEY] = erasure_key
    app.cleanup_ctx.append(keep_credentials_fresh)
    add_report_routes(app)
    add_choice_routes(app)
    add_auth_routes(app)
    add_ui_routes(app)
    add_erasure_routes(app)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def build_local_app(pool: StorePool, key: str, *, write_timeout: float) -> web.Application:
    """The statement routes for local clients that know ``key``; a stream whose client takes no
    data for ``write_timeout`` seconds is cut."""
    app = web.Application(client_max_size=64 << 20)
    app[POOL_KEY] = pool
    app[KEY_KEY] = key
    app[WRITE_TIMEOUT_KEY] = write_timeout
    add_local_routes(app)
    app.router.add_get("/healthz", healthz)
    return app
