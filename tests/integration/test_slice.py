"""The thinnest end-to-end slice: one event published to the real broker shows up in the report."""

from __future__ import annotations

import csv
import io
import uuid

import orjson
import pytest

from tests.integration.conftest import Env, produce, wait_for

pytestmark = pytest.mark.integration

HEADER = "Email,Panorama Name,Content Type,Content Title,Type,Source,Timestamp"


def event(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-11-03T14:05:06.123+01:00",
        "source": "course_purchase",
        "learner": {"id": "u-1029", "email": "Ada.Lovelace@Example.com"},
        "panorama": {"id": "p-7", "name": "Acme Academy"},
        "content": {"id": "c-42", "type": "Course", "title": 'Intro to "Safety", Part 1', "course_group_id": "g-9"},
        "actor": {"id": "m-3", "email": "manager@example.com"},
    }
    base.update(overrides)
    return base


def report_rows(env: Env, *args: str) -> list[list[str]] | None:
    res = env.run("report", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv", *args)
    assert res.returncode == 0, res.stderr.decode()
    rows = list(csv.reader(io.StringIO(res.stdout.decode("utf-8"), newline="")))
    assert rows and ",".join(rows[0]) == HEADER
    assert res.stdout.startswith(HEADER.encode() + b"\r\n")
    return rows[1:] or None


@pytest.mark.parametrize("engine", ["faust", "aiokafka"])
def test_event_reaches_report_through_running_worker(env: Env, engine: str) -> None:
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


def test_report_reads_store_directly_when_no_worker_runs(env: Env) -> None:
    env.start_worker()
    env.wait_http()
    ev = event()
    produce(env.vars["KAFKA_BOOTSTRAP_SERVERS"], [(env.topic("enrollment"), None, orjson.dumps(ev), None)])
    wait_for(lambda: report_rows(env), timeout=60, what="the event in the report")
    env.stop_workers()

    rows = report_rows(env, "--tz", "Europe/Paris")
    assert rows is not None and rows[0][-1] == "2026-11-03T14:05:06.123+01:00"
