"""The sink does not poll while an insert is retried: its consumer's position never runs more than
one batch ahead of what it committed, so memory stays bounded however long ClickHouse refuses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from actionlog.core.avro import AvroCodec
from actionlog.core.metrics import Metrics
from actionlog.core.settings import Settings
from actionlog.kafka.topics import ensure_topics
from actionlog.sink.landing import ClickHouseSink
from testkit.kafka import produce
from testkit.pipeline import Pipeline
from testkit.sinks import encoded, log_records, open_sink_store, raw_count, wait_until

pytestmark = pytest.mark.integration

N = 2000
BATCH = 100
FAILURES = 8


def test_no_polling_while_inserts_fail(env: Pipeline, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            **env.vars,
            "CLICKHOUSE_URL": f"chdb://{tmp_path / 'backpressure'}",
            "ACTIONLOG_SINK_BATCH_ROWS": str(BATCH),
            "ACTIONLOG_SINK_BATCH_SECONDS": "0.1",
            "ACTIONLOG_SINK_MAX_BACKOFF": "0.4",
            "ACTIONLOG_TEST_FAIL_INSERTS": str(FAILURES),  # about 2.5 s of retries of the first batch
        }
    )
    asyncio.run(ensure_topics(settings.kafka))
    topic = settings.kafka.topics.log
    produce(settings.kafka.bootstrap_servers, encoded(settings, log_records(N, seed=47)))  # all there at once
    store = open_sink_store(settings)
    metrics = Metrics()
    sink = ClickHouseSink(settings, store, AvroCodec(), metrics)
    ahead: list[int] = []

    async def sample_while_failing() -> None:
        """How far the consumer's position is past the committed offsets, every 20 ms."""
        while metrics.sink_failures._value.get() < FAILURES:
            consumer = sink._consumer  # the sink's own consumer: nothing outside it knows its position
            if consumer is not None and consumer.assignment():
                tps = [TopicPartition(topic, p) for p in range(settings.kafka.topics.log_partitions)]
                positions = [await consumer.position(tp) for tp in tps if tp in consumer.assignment()]
                committed = [await consumer.committed(tp) or 0 for tp in tps if tp in consumer.assignment()]
                ahead.append(sum(positions) - sum(committed))
            await asyncio.sleep(0.02)

    async def scenario() -> None:
        running = asyncio.create_task(sink.run())
        try:
            await asyncio.wait_for(sample_while_failing(), 60)
            await wait_until(lambda: asyncio.to_thread(lambda: raw_count(store) >= N), 120, "every record to land")
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    try:
        asyncio.run(scenario())
        assert raw_count(store) == N
    finally:
        store.close()
    assert len(ahead) >= 20, "too few samples while the inserts failed"
    assert max(ahead) <= BATCH, f"the consumer read {max(ahead)} records past its last commit"
    assert max(ahead) > 0  # it did read the batch it is retrying
