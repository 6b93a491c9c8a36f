"""Running a worker's parts: the aiokafka engine's small asyncio supervisor and the Faust worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import faust

from actionlog.core.avro import AvroCodec
from actionlog.core.metrics import Metrics
from actionlog.core.settings import Settings
from actionlog.processor.aiokafka_engine import KafkaNormalizer
from actionlog.processor.faust_engine import create_app

__all__ = ["Service", "run_normalizer", "run_plain"]

log = logging.getLogger(__name__)

Service = Callable[[], Coroutine[Any, Any, None]]


async def run_plain(services: dict[str, Service]) -> None:
    """Run ``services`` as tasks until one fails or SIGTERM/SIGINT arrives; then stop them all."""
    tasks = {asyncio.create_task(f(), name=name): name for name, f in services.items()}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stopper and not t.cancelled() and t.exception() is not None]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if failed:
        raise failed[0].exception()  # type: ignore[misc]
    log.info("worker stopped")


def _crash_on_error(app: faust.App, name: str, factory: Service) -> Callable[[], Any]:
    async def run() -> None:
        try:
            await factory()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the worker must not limp on without one of its parts
            log.exception("%s crashed", name)
            await app.crash(exc)

    run.__name__ = f"run_{name}"
    return run


def run_normalizer(
    settings: Settings, metrics: Metrics, services: dict[str, Service], *, loglevel: str, normalize: bool = True
) -> None:
    """Run ``services`` and, when ``normalize``, the normalizer of the configured engine, in this
    process until SIGTERM/SIGINT (blocking). Without the normalizer no engine is needed."""
    codec = AvroCodec()
    if not normalize:
        asyncio.run(run_plain(services))
        return
    if settings.processor.engine == "aiokafka":
        asyncio.run(run_plain({**services, "normalizer": lambda: KafkaNormalizer(settings, metrics, codec).run()}))
        return
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings, metrics, codec)
    for name, factory in services.items():
        app.task(_crash_on_error(app, name, factory))
    worker: Any = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
