"""Whether the sink is landing: what ``GET /readyz`` reports (docs/operations.md).

The sink is *not ready* while its inserts have been failing (and being retried) for more than
`NOT_READY_AFTER` seconds, or while it has made no progress at all for that long: no poll of the
log, no insert attempt ending (a hung insert, commit or produce). Rows the store refuses are set
aside, which is progress, not failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["NOT_READY_AFTER", "SinkHealth", "SinkState"]

#: Seconds of failing, or of no progress, after which the sink is not ready.
NOT_READY_AFTER = 30.0


@dataclass(frozen=True)
class SinkState:
    """A reading of the sink's health.

    Attributes:
        ready: landing normally.
        state: ``starting``, ``landing``, ``failing`` or ``stuck``.
        seconds: how long it has been failing or stuck (0 otherwise).
    """

    ready: bool
    state: str
    seconds: float = 0.0


class SinkHealth:
    """Updated by the sink as it goes, read by ``/readyz`` (one event loop: no lock needed).

    Args:
        clock: monotonic seconds (a test may pass its own).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = False
        self._progress = clock()
        self._failing_since: float | None = None

    def progress(self) -> None:
        """The sink polled the log or ended an insert attempt."""
        self._started = True
        self._progress = self._clock()

    def failed(self, attempt_started: float) -> None:
        """An insert attempt that started at ``attempt_started`` (clock seconds) failed and will be retried."""
        self.progress()
        if self._failing_since is None:
            self._failing_since = attempt_started

    def landed(self) -> None:
        """An insert landed: whatever failed before has healed."""
        self.progress()
        self._failing_since = None

    def now(self) -> float:
        return self._clock()

    def state(self) -> SinkState:
        now = self._clock()
        idle = now - self._progress
        if idle > NOT_READY_AFTER:
            return SinkState(False, "stuck", idle)
        if self._failing_since is not None:
            failing = now - self._failing_since
            return SinkState(failing <= NOT_READY_AFTER, "failing", failing)
        return SinkState(True, "landing" if self._started else "starting")
