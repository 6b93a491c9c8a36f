"""Test seams: the only place where the failure drills reach into production code.

Every seam is off unless an ``ACTIONLOG_TEST_*`` variable turns it on, and no production
deployment should ever set one. They let the drills break things at exact points:

* ``ACTIONLOG_TEST_FAIL_INSERTS=N``: the sink's first N inserts fail (as if ClickHouse refused).
* ``ACTIONLOG_TEST_HANG_INSERTS=N``: the sink's first N inserts hang and never return by
  themselves, so only the insert timeout gets the sink going again.
* ``ACTIONLOG_TEST_LOSE_INSERT_ACKS=N``: the sink's first N inserts land, then fail as if the
  answer was lost, so the sink inserts the same block again (its dedup token must make that a
  no-op).
* ``ACTIONLOG_TEST_EXPORT_PAUSE=POINT``: an export run that reaches POINT (one of
  `EXPORT_PAUSE_POINTS`) prints one line on stderr and waits for ever, to be killed there.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from actionlog.core import env as e
from actionlog.core.errors import ConfigError, StoreError

__all__ = ["EXPORT_PAUSE_POINTS", "InjectedFault", "InsertFaults", "Seams"]

EXPORT_PAUSE_POINTS: tuple[str, ...] = ("before_write", "mid_write", "before_pending", "after_pending", "after_rename")


class InjectedFault(StoreError):
    """A failure a test seam injected."""


@dataclass(frozen=True)
class Seams:
    """Which seams are on (all off by default)."""

    fail_inserts: int = 0
    hang_inserts: int = 0
    lose_insert_acks: int = 0
    export_pause: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Seams:
        pause = e.text(env, "ACTIONLOG_TEST_EXPORT_PAUSE", "")
        if pause and pause not in EXPORT_PAUSE_POINTS:
            raise ConfigError(f"ACTIONLOG_TEST_EXPORT_PAUSE={pause!r} must be one of {', '.join(EXPORT_PAUSE_POINTS)}")
        return cls(
            fail_inserts=e.integer(env, "ACTIONLOG_TEST_FAIL_INSERTS", 0, minimum=0),
            hang_inserts=e.integer(env, "ACTIONLOG_TEST_HANG_INSERTS", 0, minimum=0),
            lose_insert_acks=e.integer(env, "ACTIONLOG_TEST_LOSE_INSERT_ACKS", 0, minimum=0),
            export_pause=pause,
        )

    def pause_export(self, point: str) -> None:
        """Wait for ever if the export pause seam names ``point``."""
        if self.export_pause == point:
            sys.stderr.write(f"actionlog export: paused at {point} (ACTIONLOG_TEST_EXPORT_PAUSE, a test seam)\n")
            sys.stderr.flush()
            threading.Event().wait()


class InsertFaults:
    """The sink's insert seams, counted down as inserts happen (thread-safe)."""

    def __init__(self, seams: Seams) -> None:
        self._fail = seams.fail_inserts
        self._hang = seams.hang_inserts
        self._lose = seams.lose_insert_acks
        self._lock = threading.Lock()
        self._released = threading.Event()

    def before_insert(self) -> None:
        """Called by the insert, in its thread: fail or hang while the seams say so.

        Raises:
            InjectedFault: this insert is one of those the seams fail (or a hung one, once released).
        """
        with self._lock:
            hang = self._hang > 0
            if hang:
                self._hang -= 1
            fail = not hang and self._fail > 0
            if fail:
                self._fail -= 1
        if hang:
            self._released.wait()  # never ends by itself: only the caller's timeout moves on
            raise InjectedFault("injected: insert hung")
        if fail:
            raise InjectedFault("injected: insert failed")

    def after_insert(self) -> None:
        """Called once an insert landed: fail it anyway while the lose-acks seam says so.

        Raises:
            InjectedFault: the answer of this insert is "lost".
        """
        with self._lock:
            lose = self._lose > 0
            if lose:
                self._lose -= 1
        if lose:
            raise InjectedFault("injected: the insert landed but its answer was lost")

    def release(self) -> None:
        """Let hung inserts end (at shutdown, so their threads do not outlive the sink)."""
        self._released.set()
