"""Failure drills on the real broker (slow; run with ``make drills`` or ``pytest -m drill``).

Each drill publishes events while something breaks, then checks that the report holds exactly
the published events, each once, with the right values.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time

import pytest

from processor.topics import partitions_of
from tests.conftest import BrokerControl
from tests.integration.conftest import Env, wait_for
from tests.integration.pipeline import Publisher, assert_exactly_once, drill_events, report_via_http, wait_landed

pytestmark = [pytest.mark.integration, pytest.mark.drill]


def kill9(proc: os.PathLike[str] | object) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    proc.wait(30)  # type: ignore[attr-defined]


@pytest.mark.parametrize("engine", ["faust", "aiokafka"])
def test_kill_9_worker_five_times_while_100k_events_flow(env: Env, engine: str) -> None:
    env.vars["ACTIONLOG_PROCESSOR_ENGINE"] = engine
    gens = drill_events(100_000, seed=11 if engine == "faust" else 21)
    worker = env.start_worker()
    env.wait_http()
    publisher = Publisher(env, gens, chunk=5000, pause=0.5)
    publisher.start()
    rng = random.Random(20261128)
    for _ in range(5):
        time.sleep(rng.uniform(2.0, 6.0))  # a random moment, not a synchronization
        kill9(worker)
        worker = env.start_worker()
        env.wait_http()
    publisher.join_ok()
    rows = wait_landed(env, len(gens))
    assert_exactly_once(rows, gens)


def test_broker_restart_mid_stream(env: Env, broker_control: BrokerControl | None) -> None:
    if broker_control is None:
        pytest.skip("the broker is not ours to restart (KAFKA_BOOTSTRAP_SERVERS is set)")
    gens = drill_events(20_000, seed=12)
    env.start_worker()
    env.wait_http()
    publisher = Publisher(env, gens, chunk=1000, pause=0.3)
    publisher.start()
    wait_for(lambda: publisher.sent >= 5000, timeout=120, what="a quarter published")
    broker_control.stop()
    time.sleep(3)  # the broker stays down a while: clients must ride it out
    broker_control.start()
    publisher.join_ok()
    rows = wait_landed(env, len(gens))
    assert_exactly_once(rows, gens)


def committed_offsets(env: Env, group: str) -> dict[int, int]:
    from aiokafka.admin import AIOKafkaAdminClient

    async def go() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=env.vars["KAFKA_BOOTSTRAP_SERVERS"])
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    return asyncio.run(go())


def log_end_offsets(env: Env) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def go() -> int:
        topic = env.vars["ACTIONLOG_TOPIC_LOG"]
        consumer = AIOKafkaConsumer(bootstrap_servers=env.vars["KAFKA_BOOTSTRAP_SERVERS"])
        await consumer.start()
        try:
            parts = (await partitions_of(env.vars["KAFKA_BOOTSTRAP_SERVERS"], [topic]))[topic]
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        finally:
            await consumer.stop()
        return sum(ends.values())

    return asyncio.run(go())


def test_insert_failures_never_commit_unwritten_rows(env: Env) -> None:
    gens = drill_events(5_000, seed=13)
    # Phase 1: every insert fails. The normalizer still fills the log; the sink commits nothing.
    worker = env.start_worker(ACTIONLOG_SINK_FAULT_FAIL_INSERTS="1000000000", ACTIONLOG_SINK_MAX_BACKOFF="0.5")
    env.wait_http()
    Publisher(env, gens, chunk=1000, pause=0).run()
    wait_for(lambda: log_end_offsets(env) >= len(gens), timeout=120, what="the log to hold every event")
    wait_for(lambda: "insert of" in env.worker_log(), timeout=60, what="failing inserts")
    assert committed_offsets(env, env.vars["ACTIONLOG_SINK_GROUP_ID"]) == {}
    assert report_via_http(env.wait_http()) == []
    kill9(worker)
    # Phase 2: the first inserts fail, one hangs past its timeout; everything lands once.
    env.start_worker(
        ACTIONLOG_SINK_FAULT_FAIL_INSERTS="3",
        ACTIONLOG_SINK_FAULT_HANG_SECONDS="4",
        ACTIONLOG_CLICKHOUSE_INSERT_TIMEOUT="1",
        ACTIONLOG_SINK_MAX_BACKOFF="0.5",
    )
    rows = wait_landed(env, len(gens))
    assert_exactly_once(rows, gens)
    committed = committed_offsets(env, env.vars["ACTIONLOG_SINK_GROUP_ID"])
    wait_for(
        lambda: sum(committed_offsets(env, env.vars["ACTIONLOG_SINK_GROUP_ID"]).values()) == log_end_offsets(env),
        timeout=30,
        what="the sink to commit the whole log",
    )
    assert committed is not None


def test_second_worker_joins_and_leaves_mid_stream(env: Env) -> None:
    gens = drill_events(30_000, seed=14)
    env.start_worker()
    env.wait_http()
    publisher = Publisher(env, gens, chunk=1000, pause=0.2)
    publisher.start()
    wait_for(lambda: publisher.sent >= 5000, timeout=120, what="some events published")
    second = env.start_worker()  # the store is held: it joins the normalizer group only
    wait_for(lambda: "only normalizes" in env.worker_log(), timeout=60, what="the second worker to start")
    wait_for(lambda: publisher.sent >= 20000, timeout=300, what="more events published")
    second.send_signal(signal.SIGTERM)
    second.wait(60)
    publisher.join_ok()
    rows = wait_landed(env, len(gens))
    assert_exactly_once(rows, gens)


def reset_group_to_beginning(env: Env, group: str, topics: list[str]) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def go() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=env.vars["KAFKA_BOOTSTRAP_SERVERS"], group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            parts = await partitions_of(env.vars["KAFKA_BOOTSTRAP_SERVERS"], topics)
            tps = [TopicPartition(t, p) for t in topics for p in parts.get(t, ())]
            consumer.assign(tps)
            starts = await consumer.beginning_offsets(tps)
            await consumer.commit(starts)
        finally:
            await consumer.stop()

    asyncio.run(go())


def test_replay_from_the_beginning_changes_nothing(env: Env) -> None:
    gens = drill_events(10_000, seed=15)
    env.start_worker()
    env.wait_http()
    Publisher(env, gens, chunk=2000, pause=0).run()
    before = wait_landed(env, len(gens))
    env.stop_workers()
    topics = env.settings.kafka.topics
    reset_group_to_beginning(env, env.vars["ACTIONLOG_SINK_GROUP_ID"], [topics.log])
    reset_group_to_beginning(env, env.vars["ACTIONLOG_PROCESSOR_APP_ID"], list(topics.inputs))
    env.start_worker()
    base = env.wait_http()
    # Everything is read, normalized and landed again: wait until the log doubled and landed.
    wait_for(lambda: log_end_offsets(env) >= 2 * len(gens), timeout=300, what="the log to be replayed")
    wait_for(
        lambda: sum(committed_offsets(env, env.vars["ACTIONLOG_SINK_GROUP_ID"]).values()) >= 2 * len(gens),
        timeout=300,
        what="the sink to land the replay",
    )
    after = report_via_http(base)
    assert sorted(after, key=lambda r: r["content_title"]) == sorted(before, key=lambda r: r["content_title"])
    assert_exactly_once(after, gens)
