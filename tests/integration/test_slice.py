"""The thinnest end-to-end slice: one event published to the real broker shows up in the report."""

from __future__ import annotations

import orjson
import pytest

from testkit.events import contract_event
from testkit.kafka import produce
from testkit.pipeline import Pipeline, wait_for
from testkit.reports import cli_report_rows

pytestmark = pytest.mark.integration


def event() -> dict[str, object]:
    e = contract_event(event_id="random")
    e["content"]["type"] = "Course"  # lower-cased on the way
    return e


def report_rows(env: Pipeline, *args: str) -> list[list[str]] | None:
    return cli_report_rows(env, "--from", "2026-11-01", "--to", "2026-11-30", *args) or None


@pytest.mark.parametrize("engine", ["faust", "aiokafka"])
def test_event_reaches_report_through_running_worker(env: Pipeline, engine: str) -> None:
    env.vars["ACTIONLOG_PROCESSOR_ENGINE"] = engine
    env.start_worker()
    env.wait_http()
    ev = event()
    produce(env.vars["KAFKA_BOOTSTRAP_SERVERS"], [(env.topic("enrollment"), b"k1", orjson.dumps(ev), None)])

    rows = wait_for(lambda: report_rows(env), timeout=60, what="the event in the report")
    assert rows == [
        [
            "ada.lovelace@example.com",
            "Acme Academy",
            "course",
            'Intro to "Safety", Part 1',
            "enrollment",
            "course_purchase",
            "2026-11-03T13:05:06.123Z",
        ]
    ]


def test_report_reads_store_directly_when_no_worker_runs(env: Pipeline) -> None:
    env.start_worker()
    env.wait_http()
    ev = event()
    produce(env.vars["KAFKA_BOOTSTRAP_SERVERS"], [(env.topic("enrollment"), None, orjson.dumps(ev), None)])
    wait_for(lambda: report_rows(env), timeout=60, what="the event in the report")
    env.stop_workers()

    rows = report_rows(env, "--tz", "Europe/Paris")
    assert rows is not None and rows[0][-1] == "2026-11-03T14:05:06.123+01:00"
