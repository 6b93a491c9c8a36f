"""Failure drills on the real broker (slow; run with ``make drills`` or ``pytest -m drill``).

Each drill publishes events while something breaks, then checks that the report holds exactly
the published events, each once, with the right values.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from actionlog.store import open_store
from testkit.kafka import LocalBroker, committed_offsets, end_offsets, reset_group_to_beginning
from testkit.pipeline import (
    Pipeline,
    Publisher,
    assert_exactly_once,
    drill_events,
    report_via_http,
    wait_for,
    wait_landed,
)

pytestmark = [pytest.mark.integration, pytest.mark.drill]


def sink_committed(env: Pipeline) -> int:
    topic = env.vars["ACTIONLOG_TOPIC_LOG"]
    return sum(
        o for (t, _), o in committed_offsets(env.bootstrap, env.vars["ACTIONLOG_SINK_GROUP_ID"]).items() if t == topic
    )


def log_end(env: Pipeline) -> int:
    return sum(end_offsets(env.bootstrap, env.vars["ACTIONLOG_TOPIC_LOG"]).values())


def raw_rows(env: Pipeline) -> int:
    """Rows in the table as stored, duplicates included (no FINAL), through the running worker."""
    store = open_store(env.settings.clickhouse)
    try:
        return int(store.query_rows(f"SELECT count() FROM {store.log_table}")[0][0])
    finally:
        store.close()


@pytest.mark.parametrize("engine", ["faust", "aiokafka"])
def test_kill_9_worker_five_times_while_100k_events_flow(env: Pipeline, engine: str) -> None:
    env.vars["ACTIONLOG_PROCESSOR_ENGINE"] = engine
    gens = drill_events(100_000, seed=11 if engine == "faust" else 21)
    worker = env.start_worker()
    env.wait_http()
    publisher = Publisher(env, gens, chunk=5000, pause=0.5)
    publisher.start()
    rng = random.Random(20261128)
    for _ in range(5):
        time.sleep(rng.uniform(2.0, 6.0))  # a random moment, not a synchronization
        env.kill9(worker)
        worker = env.start_worker()
        env.wait_http()
    publisher.join_ok()
    rows = wait_landed(env, len(gens))
    assert_exactly_once(rows, gens)


@pytest.mark.parametrize("engine", ["faust", "aiokafka"])
def test_kill_9_of_a_normalizer_process_while_events_flow(env: Pipeline, engine: str) -> None:
    env.vars["ACTIONLOG_PROCESSOR_ENGINE"] = engine
    gens = drill_events(30_000, seed=16 if engine == "faust" else 26)
    worker = env.start_worker("--processes", "2")
    env.wait_http()
    children = wait_for(lambda: len(pids := env.normalizer_pids(worker)) == 2 and pids, what="two normalizers")
    publisher = Publisher(env, gens, chunk=2000, pause=0.3)
    publisher.start()
    rng = random.Random(20261130)
    for _ in range(3):
        time.sleep(rng.uniform(1.0, 4.0))  # a random moment, not a synchronization
        before = set(children)
        os.kill(rng.choice(children), signal.SIGKILL)
        # The worker starts it again: two normalizers, one of them new.
        children = wait_for(
            lambda b=before: len(pids := env.normalizer_pids(worker)) == 2 and set(pids) != b and pids,
            what="the killed normalizer to be replaced",
        )
    publisher.join_ok()
    rows = wait_landed(env, len(gens))
    assert_exactly_once(rows, gens)
    assert env.worker_log().count("exited with -9") == 3
    assert worker.poll() is None  # the worker itself never stopped


def test_broker_restart_mid_stream(env: Pipeline, local_broker: LocalBroker | None) -> None:
    if local_broker is None:
        pytest.skip("the broker is not ours to restart (KAFKA_BOOTSTRAP_SERVERS is set)")
    gens = drill_events(20_000, seed=12)
    env.start_worker()
    env.wait_http()
    publisher = Publisher(env, gens, chunk=1000, pause=0.3)
    publisher.start()
    wait_for(lambda: publisher.sent >= 5000, timeout=120, what="a quarter published")
    local_broker.stop()
    time.sleep(3)  # the broker stays down a while: clients must ride it out
    local_broker.start()
    publisher.join_ok()
    rows = wait_landed(env, len(gens))
    assert_exactly_once(rows, gens)


def test_insert_failures_never_commit_unwritten_rows(env: Pipeline) -> None:
    gens = drill_events(5_000, seed=13)
    # Phase 1: every insert fails. The normalizer still fills the log; the sink commits nothing.
    worker = env.start_worker(ACTIONLOG_TEST_FAIL_INSERTS="1000000000", ACTIONLOG_SINK_MAX_BACKOFF="0.5")
    env.wait_http()
    publisher = Publisher(env, gens, chunk=1000, pause=0)
    publisher.start()
    publisher.join_ok()
    wait_for(lambda: log_end(env) >= len(gens), timeout=120, what="the log to hold every event")
    wait_for(lambda: "insert of" in env.worker_log(), timeout=60, what="failing inserts")
    assert sink_committed(env) == 0
    assert report_via_http(env.wait_http(), env.admin_token()) == []
    env.kill9(worker)
    # Phase 2: the first insert hangs for ever (only the insert timeout moves on), the next ones
    # fail, then one lands without its answer (retried with the same dedup token): everything
    # lands once, in the table as stored too, and the sink commits the whole log.
    env.start_worker(
        ACTIONLOG_TEST_HANG_INSERTS="1",
        ACTIONLOG_TEST_FAIL_INSERTS="3",
        ACTIONLOG_TEST_LOSE_INSERT_ACKS="2",
        ACTIONLOG_CLICKHOUSE_INSERT_TIMEOUT="1",
        ACTIONLOG_SINK_MAX_BACKOFF="0.5",
    )
    rows = wait_landed(env, len(gens), timeout=120)
    assert_exactly_once(rows, gens)
    wait_for(lambda: sink_committed(env) == log_end(env), timeout=30, what="the sink to commit the whole log")
    assert raw_rows(env) == len(gens)  # re-inserted blocks were no-ops, not duplicates waiting for FINAL
    log = env.worker_log()
    assert "no answer within 1s, abandoned" in log and "injected: the insert landed but its answer was lost" in log


def test_second_worker_joins_and_leaves_mid_stream(env: Pipeline) -> None:
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
    assert second.wait(60) == 0
    publisher.join_ok()
    rows = wait_landed(env, len(gens))
    assert_exactly_once(rows, gens)


def test_replay_from_the_beginning_changes_nothing(env: Pipeline) -> None:
    gens = drill_events(10_000, seed=15)
    env.start_worker()
    env.wait_http()
    publisher = Publisher(env, gens, chunk=2000, pause=0)
    publisher.start()
    publisher.join_ok()
    before = wait_landed(env, len(gens))
    env.stop_workers()
    topics = env.settings.kafka.topics
    reset_group_to_beginning(env.bootstrap, env.vars["ACTIONLOG_SINK_GROUP_ID"], [topics.log])
    reset_group_to_beginning(env.bootstrap, env.vars["ACTIONLOG_PROCESSOR_APP_ID"], list(topics.inputs))
    env.start_worker()
    base = env.wait_http()
    # Everything is read, normalized and landed again: wait until the log doubled and landed.
    wait_for(lambda: log_end(env) >= 2 * len(gens), timeout=300, what="the log to be replayed")
    wait_for(lambda: sink_committed(env) >= 2 * len(gens), timeout=300, what="the sink to land the replay")
    after = report_via_http(base, env.admin_token())
    assert sorted(after, key=lambda r: r["content_title"]) == sorted(before, key=lambda r: r["content_title"])
    assert_exactly_once(after, gens)
