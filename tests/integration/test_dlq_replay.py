"""`actionlog dlq replay`: dead letters go back to their source topic; a fixed one lands, a still
invalid one is dead-lettered again (once per run, at most --max-replays times), never looping."""

from __future__ import annotations

import uuid

import orjson
import pytest

from testkit.events import contract_event
from testkit.kafka import committed_offsets, consume_all, end_offsets, produce
from testkit.pipeline import Pipeline, wait_for
from testkit.reports import cli_report_rows

pytestmark = pytest.mark.integration


def event(**overrides: object) -> dict[str, object]:
    return contract_event(**{"event_id": str(uuid.uuid4()), **overrides})


def report_rows(env: Pipeline) -> list[list[str]]:
    return cli_report_rows(env, "--from", "2026-11-01", "--to", "2026-11-30")


def dlq_headers(env: Pipeline, reason: str, topic: str) -> list[tuple[str, bytes]]:
    return [
        ("trace", b"t-1"),
        ("actionlog.error.reason", reason.encode()),
        ("actionlog.error.detail", b"source: not in the catalog then"),
        ("actionlog.source.topic", topic.encode()),
        ("actionlog.source.partition", b"0"),
        ("actionlog.source.offset", b"41"),
    ]


def test_replay_recovers_fixed_events_and_bounces_invalid_ones_once(env: Pipeline) -> None:
    bootstrap = env.vars["KAFKA_BOOTSTRAP_SERVERS"]
    dlq = env.vars["ACTIONLOG_TOPIC_DLQ"]
    enrollments = env.topic("enrollment")
    env.start_worker()
    env.wait_http()
    # A dead letter from the past whose event is valid now (as after adding a Source to the catalog).
    fixed = event(event_id=str(uuid.uuid4()), content={"id": "c-1", "type": "course", "title": "Recovered"})
    produce(bootstrap, [(dlq, b"k-fixed", orjson.dumps(fixed), dlq_headers(env, "unknown_source", enrollments))])
    # An event that is still invalid today: rejected now, and again after each replay.
    still_bad = event(event_id=str(uuid.uuid4()), source="teleportation")
    produce(bootstrap, [(enrollments, b"k-bad", orjson.dumps(still_bad), [("trace", b"t-2")])])
    assert len(consume_all(bootstrap, dlq, 2)) == 2
    replay_group = env.vars["ACTIONLOG_PROCESSOR_APP_ID"] + "-dlq-replay"

    dry = env.run("dlq", "replay", "--reason", "unknown_source", "--from-beginning", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert b"dry run: would have replayed 2" in dry.stdout
    assert committed_offsets(bootstrap, replay_group) == {}  # a dry run moves nothing
    assert sum(end_offsets(bootstrap, enrollments).values()) == 1  # and sends nothing

    skipped = env.run("dlq", "replay", "--reason", "malformed_json")
    assert skipped.returncode == 0, skipped.stderr
    assert b"replayed 0" in skipped.stdout

    first = env.run("dlq", "replay", "--reason", "unknown_source", "--from-beginning")
    assert first.returncode == 0, first.stderr
    assert b"replayed 2" in first.stdout
    # Progress is committed up to where the run started, after the re-driven messages were acknowledged.
    committed = committed_offsets(bootstrap, replay_group)
    assert sum(committed.values()) == 2
    assert sum(end_offsets(bootstrap, enrollments).values()) == 3
    rows = wait_for(lambda: report_rows(env), timeout=60, what="the recovered event in the report")
    assert [r[3] for r in rows] == ["Recovered"]

    # The still-invalid event went back to the dead-letter topic once, with its replay count.
    letters = consume_all(bootstrap, dlq, 3)
    assert len(letters) == 3
    bounced = [m for m in letters if dict(m.headers).get("actionlog.replay.count") == b"1"]
    assert len(bounced) == 1 and bounced[0].key == b"k-bad" and bounced[0].value == orjson.dumps(still_bad)
    assert dict(bounced[0].headers)["trace"] == b"t-2"
    assert dict(bounced[0].headers)["actionlog.error.reason"] == b"unknown_source"

    # A second run picks up only what arrived since: the bounced letter, once; a third run, nothing.
    second = env.run("dlq", "replay", "--reason", "unknown_source", "--max-replays", "1")
    assert second.returncode == 0, second.stderr
    assert b"replayed 0" in second.stdout and b"1 past max replays" in second.stdout
    third = env.run("dlq", "replay")
    assert third.returncode == 0, third.stderr
    assert b"replayed 0" in third.stdout
    assert len(consume_all(bootstrap, dlq, 3)) == 3  # no loop
    assert [r[3] for r in report_rows(env)] == ["Recovered"]


def test_a_dead_letter_larger_than_a_mebibyte_is_replayed(env: Pipeline) -> None:
    """The replay producer takes messages up to the dead-letter topic's own limit, not aiokafka's 1 MiB."""
    bootstrap = env.vars["KAFKA_BOOTSTRAP_SERVERS"]
    dlq = env.vars["ACTIONLOG_TOPIC_DLQ"]
    enrollments = env.topic("enrollment")
    created = env.run("topics", "create")
    assert created.returncode == 0, created.stderr
    big = orjson.dumps(event(content={"id": "c-1", "type": "course", "title": "x" * (3 << 20)}))
    assert len(big) > 3 << 20
    produce(bootstrap, [(dlq, b"k-big", big, dlq_headers(env, "invalid_field", enrollments))])
    result = env.run("dlq", "replay")
    assert result.returncode == 0, result.stderr
    assert b"replayed 1" in result.stdout
    [replayed] = consume_all(bootstrap, enrollments, 1)
    assert (replayed.key, replayed.value) == (b"k-big", big)
