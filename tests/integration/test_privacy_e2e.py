"""Erasure holds against the event-sourced paths, on the real broker and worker: the same events
delivered again upstream, dead letters re-driven, set-aside records replayed, and the sink re-reading
the log from its beginning never bring an erased learner back; and the learner's email appears in
no line the worker or the CLI logged along the way."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from actionlog.core.avro import AvroCodec
from actionlog.store import open_store
from testkit.events import contract_event
from testkit.kafka import committed_offsets, consume_all, end_offsets, produce, reset_group_to_beginning
from testkit.pipeline import Pipeline, wait_for
from testkit.reports import cli_report_rows

pytestmark = pytest.mark.integration

KEY = "an-erasure-key-for-the-tests-0123456789"
EMAIL = "Ada.Lovelace@Example.com"
ADA = {"id": "u-ada-1815", "email": EMAIL}
BOB = {"id": "u-bob", "email": "bob@example.com"}


def event(learner: dict[str, str], title: str) -> dict[str, Any]:
    content = {"id": f"c-{title}", "type": "course", "title": title}
    return contract_event(event_id=str(uuid.uuid4()), learner=learner, content=content)


def titles(env: Pipeline) -> list[str]:
    return sorted(r[3] for r in cli_report_rows(env, "--from", "2026-11-01", "--to", "2026-11-30"))


def letter_headers(reason: str, topic: str) -> list[tuple[str, bytes]]:
    return [
        ("actionlog.error.reason", reason.encode()),
        ("actionlog.error.detail", b"then"),
        ("actionlog.source.topic", topic.encode()),
        ("actionlog.source.partition", b"0"),
        ("actionlog.source.offset", b"7"),
    ]


def total(bootstrap: str, topic: str) -> int:
    return sum(end_offsets(bootstrap, topic).values())


def sink_caught_up(env: Pipeline, log_records: int) -> bool:
    """The normalizer wrote at least ``log_records`` and the sink committed past every one."""
    bootstrap, log = env.vars["KAFKA_BOOTSTRAP_SERVERS"], env.vars["ACTIONLOG_TOPIC_LOG"]
    ends = end_offsets(bootstrap, log)
    if sum(ends.values()) < log_records:
        return False
    committed = committed_offsets(bootstrap, env.vars["ACTIONLOG_SINK_GROUP_ID"])
    return all(committed.get((log, p), 0) >= end for p, end in ends.items() if end)


def test_an_erased_learner_never_comes_back(env: Pipeline) -> None:
    bootstrap = env.vars["KAFKA_BOOTSTRAP_SERVERS"]
    enrollments, log = env.topic("enrollment"), env.vars["ACTIONLOG_TOPIC_LOG"]
    dlq, set_aside = env.vars["ACTIONLOG_TOPIC_DLQ"], env.vars["ACTIONLOG_TOPIC_SET_ASIDE"]
    env.vars["ACTIONLOG_ERASURE_KEY"] = KEY
    env.start_worker()
    env.wait_http()
    ada = [event(ADA, "A1"), event({**ADA, "email": " ada.lovelace@example.COM "}, "A2")]
    bob = [event(BOB, "B1")]
    first = [(enrollments, None, orjson.dumps(e), []) for e in [*ada, *bob]]
    produce(bootstrap, first)
    assert wait_for(lambda: titles(env) == ["A1", "A2", "B1"] or None, timeout=90, what="the first rows")
    # A set-aside record of Ada's (as if the store had refused it) and dead letters of both.
    codec = AvroCodec()
    records = consume_all(bootstrap, log, 3)
    ada_record = next(m for m in records if codec.decode(m.value)["learner_id"] == ADA["id"])
    produce(bootstrap, [(set_aside, ada_record.key, ada_record.value, letter_headers("refused", log))])
    letters = [
        (dlq, None, orjson.dumps(event(who, t)), letter_headers("unknown_source", enrollments))
        for who, t in ((ADA, "A3"), (BOB, "B2"))
    ]
    produce(bootstrap, letters)
    outputs: list[bytes] = []

    dry = env.run("erase", "--learner", EMAIL, "--dry-run")
    outputs += [dry.stdout, dry.stderr]
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(b"dry run: would erase 1 learner id") and b"2 from content_actions_log" in dry.stdout
    assert titles(env) == ["A1", "A2", "B1"]  # the dry run changed nothing
    done = env.run("erase", "--learner", EMAIL)
    outputs += [done.stdout, done.stderr]
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"erased 1 learner id") and b"2 from content_actions_log" in done.stdout
    assert titles(env) == ["B1"]

    # 1. The same events delivered again upstream (and a new one of Ada's), then one of Bob's.
    produce(bootstrap, [*first[:2], (enrollments, None, orjson.dumps(event(ADA, "A4")), [])])
    produce(bootstrap, [(enrollments, None, orjson.dumps(event(BOB, "B3")), [])])
    wait_for(lambda: sink_caught_up(env, 3 + 4), timeout=90, what="the sink past the redelivered events")
    assert titles(env) == ["B1", "B3"]

    # 2. Dead letters re-driven: Ada's is skipped (never sent back upstream), Bob's lands.
    before = total(bootstrap, enrollments)
    replayed = env.run("dlq", "replay")
    outputs += [replayed.stdout, replayed.stderr]
    assert replayed.returncode == 0, replayed.stderr
    assert b"replayed 1 " in replayed.stdout and b"1 of erased learners" in replayed.stdout
    assert total(bootstrap, enrollments) == before + 1
    wait_for(lambda: titles(env) == ["B1", "B2", "B3"] or None, timeout=90, what="Bob's re-driven event")

    # 3. Set-aside records replayed: Ada's is skipped, nothing goes back to the log.
    before = total(bootstrap, log)
    again = env.run("set-aside", "replay")
    outputs += [again.stdout, again.stderr]
    assert again.returncode == 0, again.stderr
    assert b"replayed 0 " in again.stdout and b"1 of erased learners" in again.stdout
    assert total(bootstrap, log) == before

    # 4. The sink re-reads the whole log from its beginning (its group reset, worker restarted).
    env.stop_workers()
    reset_group_to_beginning(bootstrap, env.vars["ACTIONLOG_SINK_GROUP_ID"], [log])
    assert sink_caught_up(env, 0) is False  # the reset took
    env.start_worker()
    env.wait_http()
    wait_for(lambda: sink_caught_up(env, 3 + 4 + 1), timeout=90, what="the sink past the whole log again")
    assert titles(env) == ["B1", "B2", "B3"]

    # The erasure's record: who and how much, never the email.
    store = open_store(env.settings.clickhouse)
    try:
        [(by, kind, key_hash, ids, rows)] = store.query_rows(
            "SELECT by, key_kind, key_hash, learner_ids, rows FROM actionlog.erasures"
        )
    finally:
        store.close()
    assert by.startswith("cli:") and (kind, ids) == ("email", 1) and rows >= 2
    assert len(key_hash) == 64 and "ada" not in key_hash

    # Personal data out of the logs: no line of the worker or of the CLI holds the email.
    env.stop_workers()
    logged = (env.worker_log().encode() + b"\n".join(outputs)).lower()
    assert b"sink consuming" in logged and b"erased 1 learner id" in logged  # the logs are there to look at
    for needle in (EMAIL.lower().encode(), ADA["id"].encode()):
        assert needle not in logged
