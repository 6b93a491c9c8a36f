"""``ACTIONLOG_RETENTION_DAYS``: the topics the project creates keep records that long (the
dead-letter and set-aside topics their own, shorter, time), a worker aligns topics that exist
already, ``actionlog retention --dry-run`` counts per month what would go and changes nothing, and
the table's TTL removes the old rows (the TTL merge forced with OPTIMIZE ... FINAL)."""

from __future__ import annotations

import asyncio
import time

import pytest

from actionlog.kafka.topics import topic_overrides
from actionlog.store import open_store
from testkit.pipeline import Pipeline, wait_for
from testkit.rows import land, row

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000


def overrides(env: Pipeline) -> dict[str, dict[str, str | None]]:
    settings = env.settings
    topics = settings.kafka.topics
    names = [*topics.inputs, topics.log, topics.dlq, topics.set_aside]
    return asyncio.run(topic_overrides(settings.kafka, names))


def settled(env: Pipeline, topic: str, retention: str) -> dict[str, dict[str, str | None]] | None:
    """The overrides once ``topic`` shows ``retention`` (the broker shows a change a moment later)."""
    seen = overrides(env)
    return seen if seen[topic].get("retention.ms") == retention else None


def stored_months(env: Pipeline) -> list[tuple[int, int]]:
    store = open_store(env.settings.clickhouse)
    try:
        store.command("OPTIMIZE TABLE actionlog.content_actions_log FINAL")
        rows = store.query_rows(
            "SELECT toYYYYMM(occurred_at) AS m, count() FROM actionlog.content_actions_log GROUP BY m ORDER BY m"
        )
    finally:
        store.close()
    return [(int(m), int(n)) for m, n in rows]


def test_topics_get_retention_and_the_worker_aligns_existing_ones(env: Pipeline) -> None:
    created = env.run("topics", "create")  # no retention set: the broker's default
    assert created.returncode == 0, created.stderr
    topics = env.settings.kafka.topics
    # The broker shows a new topic's overrides a moment after creating it.
    before = wait_for(lambda: settled(env, topics.dlq, str(14 * DAY_MS)), what="the new topics' overrides")
    assert "retention.ms" not in before[topics.log], before
    assert before[topics.dlq]["retention.ms"] == str(14 * DAY_MS)  # the dead letters' own default
    assert before[topics.dlq]["max.message.bytes"] == str(topics.dlq_max_message_bytes)

    env.vars.update(ACTIONLOG_RETENTION_DAYS="30", ACTIONLOG_TOPIC_DLQ_RETENTION_DAYS="3")
    env.start_worker()
    env.wait_http()
    after = wait_for(lambda: settled(env, topics.log, str(30 * DAY_MS)), what="the aligned overrides")
    for name in [*topics.inputs, topics.log]:
        assert after[name]["retention.ms"] == str(30 * DAY_MS), name
    for name in (topics.dlq, topics.set_aside):
        assert after[name]["retention.ms"] == str(3 * DAY_MS), name
        # The other overrides of the topic survived the change.
        assert after[name]["max.message.bytes"] == str(topics.dlq_max_message_bytes), name
    for name in topics.inputs:
        assert after[name]["max.message.bytes"] == str(topics.max_message_bytes), name


def test_retention_dry_run_then_the_ttl_removes_old_rows(env: Pipeline) -> None:
    now = int(time.time() * 1000)
    old = [row(event_id="o-1", occurred_at=1_705_312_800_000), row(event_id="o-2", occurred_at=1_707_552_000_000)]
    old.append(row(event_id="o-3", occurred_at=1_707_638_400_000))  # 2024-01-15, 2024-02-10, 2024-02-11
    recent = [row(event_id="r-1", occurred_at=now - DAY_MS)]
    store = open_store(env.settings.clickhouse)
    try:
        land(store, [*old, *recent])  # type: ignore[arg-type]
    finally:
        store.close()

    unset = env.run("retention", "--dry-run")
    assert unset.returncode == 0, unset.stderr
    assert unset.stdout == b"ACTIONLOG_RETENTION_DAYS is not set: every row is kept\n"
    dry = env.run("retention", "--dry-run", ACTIONLOG_RETENTION_DAYS="30")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.decode().splitlines() == ["2024-01\t1", "2024-02\t2", "would remove 3 rows older than 30 days"]
    assert stored_months(env) == [
        (202401, 1),
        (202402, 2),
        (int(time.strftime("%Y%m", time.gmtime((now - DAY_MS) / 1000))), 1),
    ]

    env.vars["ACTIONLOG_RETENTION_DAYS"] = "30"
    env.start_worker()  # sets the table's TTL
    env.wait_http()
    months = stored_months(env)
    assert [n for _, n in months] == [1] and months[0][0] > 202402

    env.stop_workers()
    env.vars.pop("ACTIONLOG_RETENTION_DAYS")
    env.start_worker()  # unset again: the TTL goes, nothing more is removed
    env.wait_http()
    store = open_store(env.settings.clickhouse)
    try:
        [(engine,)] = store.query_rows(
            "SELECT engine_full FROM system.tables WHERE database = 'actionlog' AND name = 'content_actions_log'"
        )
    finally:
        store.close()
    assert " TTL " not in engine
