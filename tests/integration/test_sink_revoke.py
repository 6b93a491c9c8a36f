"""Commit before revoke: when a rebalance takes partitions away, the sink lands and commits what it
holds first, so the next owner starts right after it (nothing read twice, nothing skipped)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from actionlog.core.avro import AvroCodec
from actionlog.core.metrics import Metrics
from actionlog.core.settings import Settings
from actionlog.kafka.topics import ensure_topics
from actionlog.sink.landing import ClickHouseSink
from testkit.kafka import committed_offsets, end_offsets, produce
from testkit.pipeline import Pipeline
from testkit.sinks import encoded, log_records, open_sink_store, raw_count, wait_until

pytestmark = pytest.mark.integration

N = 500


def test_partitions_are_committed_before_they_move(env: Pipeline, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            **env.vars,
            "CLICKHOUSE_URL": f"chdb://{tmp_path / 'revoke'}",
            # Neither size nor age flushes the batch during the test: only the revocation does.
            "ACTIONLOG_SINK_BATCH_ROWS": "100000",
            "ACTIONLOG_SINK_BATCH_SECONDS": "600",
            "ACTIONLOG_KAFKA_SESSION_TIMEOUT": "6",
        }
    )
    bootstrap, topic, group = settings.kafka.bootstrap_servers, settings.kafka.topics.log, settings.sink.group_id
    asyncio.run(ensure_topics(settings.kafka))
    produce(bootstrap, encoded(settings, log_records(N, seed=43)))
    ends = end_offsets(bootstrap, topic)
    assert sum(ends.values()) == N and all(ends.values())  # every partition has records
    store = open_sink_store(settings)
    metrics = Metrics()

    async def buffered_all() -> bool:
        return bool(metrics.sink_buffered._value.get() == N)

    async def scenario() -> None:
        sink = asyncio.create_task(ClickHouseSink(settings, store, AvroCodec(), metrics).run())
        joiner = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        try:
            await wait_until(buffered_all, 60, "the sink to hold every record in its batch")
            assert await asyncio.to_thread(committed_offsets, bootstrap, group) == {}
            assert await asyncio.to_thread(raw_count, store) == 0
            await joiner.start()  # a second member: the group rebalances, the sink gives partitions away

            read_again = []

            async def joiner_assigned() -> bool:
                for messages in (await joiner.getmany(timeout_ms=200)).values():
                    read_again.extend(messages)
                return bool(joiner.assignment())

            await wait_until(joiner_assigned, 60, "the second member to get partitions")
            # The sink landed and committed what it held before letting go.
            assert await asyncio.to_thread(raw_count, store) == N
            everything = {(topic, p): o for p, o in ends.items()}
            assert await asyncio.to_thread(committed_offsets, bootstrap, group) == everything
            # So the new owner starts at the end: there is nothing for it to read again.
            for tp in joiner.assignment():
                assert await joiner.position(tp) == ends[tp.partition]
            for messages in (await joiner.getmany(timeout_ms=1000)).values():
                read_again.extend(messages)
            assert read_again == []
        finally:
            await joiner.stop()
            sink.cancel()
            await asyncio.gather(sink, return_exceptions=True)

    try:
        asyncio.run(scenario())
    finally:
        store.close()
