"""Two sinks share the log through their consumer group: one joins and one leaves mid-stream,
and every record lands exactly once (as seen through FINAL), with offsets committed to the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from actionlog.metrics import Metrics
from actionlog.settings import Settings
from processor.avro import MAGIC, AvroCodec
from processor.normalize import normalize
from processor.records import LogRecord
from processor.topics import ensure_topics
from sink.service import ClickHouseSink
from sink.store import Store
from tests.integration.conftest import Env, produce
from tests.support.events import events

pytestmark = pytest.mark.integration

N = 20_000


def log_messages(settings: Settings) -> list[tuple[str, bytes, bytes, None]]:
    codec = AvroCodec()
    out = []
    for i, g in enumerate(events(N, seed=31)):
        record = normalize(g.encode(), g.action_type, topic="up", partition=0, offset=i)
        assert isinstance(record, LogRecord)
        out.append((settings.kafka.topics.log, record.event_id.encode(), codec.encode(record), None))
    return out


async def count_final(store: Store) -> tuple[int, int]:
    sql = f"SELECT count(), uniqExact(event_id) FROM {store.table} FINAL"
    rows = await asyncio.to_thread(store.query_rows, sql)
    return int(rows[0][0]), int(rows[0][1])


async def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def test_second_sink_joins_and_leaves(env: Env, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            **env.vars,
            "CLICKHOUSE_URL": f"chdb://{tmp_path / 'sinks'}",
            "ACTIONLOG_SINK_BATCH_ROWS": "500",
            "ACTIONLOG_SINK_BATCH_SECONDS": "0.2",
        }
    )
    asyncio.run(ensure_topics(settings.kafka))
    messages = log_messages(settings)
    store = Store(settings.clickhouse).connect()
    store.ensure_schema()
    codec = AvroCodec()

    async def scenario() -> None:
        first = asyncio.create_task(ClickHouseSink(settings, store, codec, Metrics()).run())
        await asyncio.to_thread(produce, settings.kafka.bootstrap_servers, messages[: N // 2])
        await wait_until(lambda: _landed_at_least(store, 1000), 60, "the first sink to land rows")
        second = asyncio.create_task(ClickHouseSink(settings, store, codec, Metrics()).run())
        await asyncio.to_thread(produce, settings.kafka.bootstrap_servers, messages[N // 2 :])
        await wait_until(lambda: _landed_at_least(store, N * 3 // 4), 120, "three quarters landed")
        second.cancel()  # leaves the group: its partitions go back to the first sink
        await asyncio.gather(second, return_exceptions=True)
        await wait_until(lambda: _landed_at_least(store, N), 120, "everything landed")
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        total, distinct = await count_final(store)
        assert (total, distinct) == (N, N)

    try:
        asyncio.run(scenario())
        ids = {row[0] for row in store.query_rows(f"SELECT event_id FROM {store.table} FINAL")}
        assert ids == {m[1].decode() for m in messages}
    finally:
        store.close()


async def _landed_at_least(store: Store, n: int) -> bool:
    total, _ = await count_final(store)
    return total >= n


def test_a_corrupt_record_is_dropped_not_retried_forever(env: Env, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {**env.vars, "CLICKHOUSE_URL": f"chdb://{tmp_path / 'corrupt'}", "ACTIONLOG_SINK_MAX_BACKOFF": "0.2"}
    )
    asyncio.run(ensure_topics(settings.kafka))
    codec = AvroCodec()
    good = log_messages(settings)[:50]
    # Our framing and fingerprint, then garbage: only ClickHouse would notice, at insert time.
    bad = (settings.kafka.topics.log, b"bad", MAGIC + codec.fingerprint + b"\xff" * 40, None)
    produce(settings.kafka.bootstrap_servers, [*good[:25], bad, *good[25:]])
    store = Store(settings.clickhouse).connect()
    store.ensure_schema()
    metrics = Metrics()

    async def scenario() -> None:
        sink = asyncio.create_task(ClickHouseSink(settings, store, codec, metrics).run())
        await wait_until(lambda: _landed_at_least(store, 50), 60, "the good records to land")
        sink.cancel()
        await asyncio.gather(sink, return_exceptions=True)
        assert await count_final(store) == (50, 50)

    try:
        asyncio.run(scenario())
        assert metrics.sink_undecodable._value.get() == 1
    finally:
        store.close()
