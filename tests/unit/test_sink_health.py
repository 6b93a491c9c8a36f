"""What /readyz reports about the sink: ready while it lands, not ready once it has been failing,
or has made no progress, for more than 30 s."""

from __future__ import annotations

from actionlog.sink.health import NOT_READY_AFTER, SinkHealth


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failing_for_more_than_the_limit_is_not_ready_and_a_landed_insert_heals_it() -> None:
    clock = Clock()
    health = SinkHealth(clock)
    assert health.state().ready and health.state().state == "starting"
    health.progress()
    assert health.state().state == "landing"
    started = clock.now
    for _ in range(4):  # an insert failing every 10 s, retried
        clock.now += 10
        health.failed(started)
        started = clock.now
    state = health.state()
    assert (state.ready, state.state, state.seconds) == (False, "failing", 40.0)
    clock.now += 1
    health.landed()
    assert health.state().ready and health.state().state == "landing"


def test_failing_briefly_is_still_ready() -> None:
    clock = Clock()
    health = SinkHealth(clock)
    health.failed(clock.now)
    clock.now += NOT_READY_AFTER - 1
    health.progress()
    assert health.state().ready and health.state().state == "failing"


def test_no_progress_for_more_than_the_limit_is_stuck() -> None:
    clock = Clock()
    health = SinkHealth(clock)
    health.progress()
    clock.now += NOT_READY_AFTER + 0.5  # a hung insert, commit or poll
    state = health.state()
    assert (state.ready, state.state) == (False, "stuck")
    health.progress()
    assert health.state().ready
