"""Normalizer processes of ``actionlog worker`` with ``ACTIONLOG_WORKER_PROCESSES=N`` (N > 1).

The worker process starts N normalizer processes (multiprocessing's *spawn*: fresh interpreters
given the worker's settings), each a member of the normalizer's consumer group, and keeps them
running: one that exits for any reason (``kill -9`` included) is started again, after a pause
that grows while they keep failing at once. Each passes its counters (events accepted,
rejected, produce retries) to the worker every quarter second, so ``/metrics`` counts them all.
A normalizer process stops when the worker asks (SIGTERM) and when the worker is gone, however
it went (it watches its parent). Normalizing is at-least-once whatever the process that does it:
a killed one's uncommitted events are normalized again by its partitions' next owner.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from actionlog.core.metrics import Metrics
from actionlog.core.settings import Settings
from actionlog.worker.engines import Service, run_normalizer

__all__ = ["NormalizerProcesses", "normalizer_main", "normalizers"]

log = logging.getLogger(__name__)

#: Seconds between two looks at the normalizer processes, and between two counter updates.
POLL = 0.5
COUNTS_EVERY = 0.25
#: A process that ran less than this is restarted after a growing pause (up to `MAX_PAUSE`).
HEALTHY_AFTER = 10.0
MAX_PAUSE = 30.0
#: How long a stopping worker waits for its normalizer processes before SIGKILL.
STOP_WAIT = 30.0


def normalizer_main(settings: Settings, loglevel: str, index: int, counts: Connection) -> None:
    """Entry point of a normalizer process (blocking until stopped)."""
    logging.basicConfig(
        level=loglevel.upper(), format=f"%(asctime)s %(levelname)s normalizer-{index} %(name)s: %(message)s"
    )
    metrics = Metrics()
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_stop_with, args=(parent.sentinel,), daemon=True, name="parent-watch").start()
    threading.Thread(target=_send_counts, args=(metrics, counts), daemon=True, name="counts").start()
    log.info("normalizer process %d (pid %d) started", index, os.getpid())
    run_normalizer(settings, metrics, {}, loglevel=loglevel)


def _stop_with(sentinel: int) -> None:
    """Stop this process (as SIGTERM does) once the worker that started it is gone."""
    multiprocessing.connection.wait([sentinel])
    log.warning("the worker is gone: stopping")
    os.kill(os.getpid(), signal.SIGTERM)


def _send_counts(metrics: Metrics, counts: Connection) -> None:
    sent: dict[tuple[str, str | None], float] = {}
    while True:
        time.sleep(COUNTS_EVERY)
        now = metrics.normalizer_counts()
        delta = {key: value - sent.get(key, 0.0) for key, value in now.items() if value != sent.get(key, 0.0)}
        if delta:
            try:
                counts.send(delta)
            except OSError:
                return  # the worker is gone; _stop_with ends this process
            sent = now


@dataclass
class _Slot:
    process: Any
    started: float
    failures: int = 0


class NormalizerProcesses:
    """Starts ``count`` normalizer processes and keeps them running (an async service)."""

    def __init__(self, settings: Settings, metrics: Metrics, count: int, loglevel: str) -> None:
        self.settings = settings
        self.metrics = metrics
        self.count = count
        self.loglevel = loglevel
        self._context = multiprocessing.get_context("spawn")

    def _start(self, index: int, failures: int = 0) -> _Slot:
        receive, send = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=normalizer_main,
            args=(self.settings, self.loglevel, index, send),
            name=f"actionlog-normalizer-{index}",
        )
        process.start()
        send.close()  # the child's end: the receiver sees EOF when the child is gone
        threading.Thread(target=self._receive, args=(receive,), daemon=True, name=f"counts-{index}").start()
        log.info("normalizer process %d started (pid %d)", index, process.pid)
        return _Slot(process, time.monotonic(), failures)

    def _receive(self, receive: Connection) -> None:
        with receive:
            while True:
                try:
                    self.metrics.add_counts(receive.recv())
                except (EOFError, OSError):
                    return

    async def run(self) -> None:
        slots = [self._start(i) for i in range(self.count)]
        pending: dict[int, float] = {}  # index -> when to start it again
        try:
            while True:
                now = time.monotonic()
                for i, slot in enumerate(slots):
                    if i in pending:
                        if now >= pending[i]:
                            del pending[i]
                            slots[i] = self._start(i, slot.failures)
                        continue
                    if slot.process.is_alive():
                        continue
                    quick = now - slot.started < HEALTHY_AFTER
                    failures = slot.failures + 1 if quick else 0
                    pause = min(MAX_PAUSE, 0.5 * 2**failures) if quick else 0.0
                    log.warning(
                        "normalizer process %d (pid %s) exited with %s; starting it again in %.1fs",
                        i,
                        slot.process.pid,
                        slot.process.exitcode,
                        pause,
                    )
                    slot.failures = failures
                    pending[i] = now + pause
                await asyncio.sleep(POLL)
        finally:
            await asyncio.to_thread(self._stop, [s.process for s in slots])

    @staticmethod
    def _stop(processes: list[Any]) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: the normalizer stops as it would on its own
        deadline = time.monotonic() + STOP_WAIT
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("normalizer process (pid %s) did not stop in %.0fs: killed", process.pid, STOP_WAIT)
                process.kill()
                process.join(5)


def normalizers(settings: Settings, metrics: Metrics, loglevel: str) -> Service:
    """The service that runs the worker's normalizer processes."""
    return NormalizerProcesses(settings, metrics, settings.worker.processes, loglevel).run
