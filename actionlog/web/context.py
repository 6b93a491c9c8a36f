"""What the routes find in their application: the store pool and the metrics."""

from __future__ import annotations

from aiohttp import web

from actionlog.core.metrics import Metrics
from actionlog.store.pool import StorePool

__all__ = ["KEY_KEY", "METRICS_KEY", "POOL_KEY"]

POOL_KEY: web.AppKey[StorePool] = web.AppKey("store_pool", StorePool)
METRICS_KEY: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
KEY_KEY: web.AppKey[str] = web.AppKey("local_key", str)
