"""What the routes find in their application: the store pool, metrics, settings, credentials, the
sink's health."""

from __future__ import annotations

import asyncio

from aiohttp import web

from actionlog.access.guard import Authenticator
from actionlog.access.tokens import Principal
from actionlog.core.metrics import Metrics
from actionlog.core.settings import HttpSettings
from actionlog.sink.health import SinkHealth
from actionlog.store.pool import StorePool

__all__ = [
    "AUTH_KEY",
    "ERASURE_KEY",
    "HEALTH_KEY",
    "HTTP_KEY",
    "KEY_KEY",
    "METRICS_KEY",
    "POOL_KEY",
    "PRINCIPAL",
    "RELOAD_LOCK_KEY",
    "ROWS",
    "WRITE_TIMEOUT_KEY",
]

POOL_KEY: web.AppKey[StorePool] = web.AppKey("store_pool", StorePool)
METRICS_KEY: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
KEY_KEY: web.AppKey[str] = web.AppKey("local_key", str)
AUTH_KEY: web.AppKey[Authenticator] = web.AppKey("authenticator", Authenticator)
HTTP_KEY: web.AppKey[HttpSettings] = web.AppKey("http_settings", HttpSettings)
RELOAD_LOCK_KEY: web.AppKey[asyncio.Lock] = web.AppKey("credentials_reload", asyncio.Lock)
"""Held while an unknown credential makes the credentials reload (misses share one load)."""
HEALTH_KEY: web.AppKey[SinkHealth] = web.AppKey("sink_health", SinkHealth)
WRITE_TIMEOUT_KEY: web.AppKey[float] = web.AppKey("write_timeout", float)
"""Seconds a stream of the loopback app may wait for its client to take data."""
ERASURE_KEY: web.AppKey[bytes] = web.AppKey("erasure_key", bytes)
"""The HMAC key of the suppression list (absent: erasing over HTTP is refused)."""
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)
"""The authenticated caller of a request."""
ROWS: web.RequestKey[int] = web.RequestKey("audit_rows", int)
"""How many rows a data route sent (for the audit)."""
