"""``worker --no-sink`` normalizes but lands nothing (the log waits for a sink); ``worker --no-http``
normalizes and lands but opens no public port (with the embedded store it still opens its loopback
listener for local CLI commands, docs/operations.md)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from actionlog.store.holder import read_link
from testkit.events import Generated
from testkit.kafka import committed_offsets, consume_all, end_offsets, produce
from testkit.pipeline import Pipeline, assert_exactly_once, drill_events, report_via_http, wait_for, wait_landed
from testkit.reports import cli_report_rows

pytestmark = pytest.mark.integration

N = 50
ALL_TIME = ("--from", "1990-01-01", "--to", "2100-01-01")


def group_members(bootstrap: str, group: str) -> int:
    async def go() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (response,) = await admin.describe_consumer_groups([group])
        finally:
            await admin.close()
        (described,) = response.to_object()["groups"]
        return len(described["members"])

    return asyncio.run(go())


def normalizer_done(env: Pipeline) -> bool:
    """The normalizer committed every input message (so it also produced their log records)."""
    topics = env.settings.kafka.topics
    ends = sum(sum(end_offsets(env.bootstrap, t).values()) for t in topics.inputs)
    return ends == N and sum(committed_offsets(env.bootstrap, env.vars["ACTIONLOG_PROCESSOR_APP_ID"]).values()) == N


def publish(env: Pipeline, seed: int) -> list[Generated]:
    gens = drill_events(N, seed=seed)
    produce(env.bootstrap, [(env.topic(g.action_type), g.event_id.encode(), g.encode(), None) for g in gens])
    return gens


def test_no_sink_normalizes_and_lands_nothing(env: Pipeline) -> None:
    env.vars["ACTIONLOG_PROCESSOR_ENGINE"] = "aiokafka"
    env.start_worker("--no-sink")
    base = env.wait_http()
    gens = publish(env, seed=17)
    wait_for(lambda: normalizer_done(env), timeout=90, what="the normalizer to commit every event")
    assert len(consume_all(env.bootstrap, env.settings.kafka.topics.log, N)) == N
    # By now a sink, started with the normalizer, would have joined its group and landed rows.
    assert group_members(env.bootstrap, env.vars["ACTIONLOG_SINK_GROUP_ID"]) == 0
    assert committed_offsets(env.bootstrap, env.vars["ACTIONLOG_SINK_GROUP_ID"]) == {}
    assert report_via_http(base, env.admin_token()) == []
    # The log waited for a sink: a worker with one lands it all.
    env.stop_workers()
    env.start_worker()
    assert_exactly_once(wait_landed(env, N, timeout=120), gens)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_http_lands_without_a_public_port(env: Pipeline) -> None:
    env.vars["ACTIONLOG_PROCESSOR_ENGINE"] = "aiokafka"
    port = free_port()
    env.start_worker("--no-http", ACTIONLOG_HTTP_PORT=str(port))
    link = wait_for(lambda: read_link(env.settings.clickhouse.chdb_path), timeout=90, what="the loopback link")
    assert link.url.startswith("http://127.0.0.1:")
    assert link.public_url == ""
    gens = publish(env, seed=18)
    # The CLI reaches the store through the worker's loopback listener (the worker holds it).
    rows = wait_for(lambda: len(r := cli_report_rows(env, *ALL_TIME)) == N and r, timeout=120, what="the rows")
    assert sorted(r[3] for r in rows) == sorted(g.event_id for g in gens)  # titles are the event ids
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
