"""Two sinks share the log through their consumer group: one joins and one leaves mid-stream;
every record lands exactly once, the joiner really took partitions, and the group's committed
offsets reach the end of the log. A record that does not decode is set aside, never retried
in front of the others, never dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from actionlog.core.avro import MAGIC, AvroCodec
from actionlog.core.dead_letters import original_headers, parse_dead_letter
from actionlog.core.metrics import Metrics
from actionlog.core.record import LogRecord
from actionlog.core.settings import Settings
from actionlog.kafka.topics import ensure_topics
from actionlog.processor.normalize import normalize
from actionlog.sink.landing import ClickHouseSink
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.schema import ensure_log_schema
from testkit.events import events
from testkit.kafka import committed_offsets, consume_all, end_offsets, produce
from testkit.pipeline import Pipeline

pytestmark = pytest.mark.integration

N = 20_000


def log_messages(settings: Settings, n: int = N) -> list[tuple[str, bytes, bytes, None]]:
    codec = AvroCodec()
    out = []
    for i, g in enumerate(events(n, seed=31)):
        record = normalize(g.encode(), g.action_type, topic="up", partition=0, offset=i)
        assert isinstance(record, LogRecord)
        out.append((settings.kafka.topics.log, record.event_id.encode(), codec.encode(record), None))
    return out


def open_sink_store(settings: Settings) -> ClickHouseStore:
    store = ClickHouseStore(settings.clickhouse).connect()
    ensure_log_schema(store, settings.clickhouse.database, settings.clickhouse.table)
    return store


async def counts(store: ClickHouseStore) -> tuple[int, int, int]:
    """(rows through FINAL, distinct event ids, rows as stored)."""
    sql = f"SELECT count(), uniqExact(event_id), (SELECT count() FROM {store.log_table}) FROM {store.log_table} FINAL"
    rows = await asyncio.to_thread(store.query_rows, sql)
    return int(rows[0][0]), int(rows[0][1]), int(rows[0][2])


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def test_second_sink_joins_and_leaves(env: Pipeline, tmp_path: Path) -> None:
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
    store = open_sink_store(settings)
    codec = AvroCodec()
    second_metrics = Metrics()

    async def landed_at_least(n: int) -> bool:
        return (await counts(store))[0] >= n

    async def second_has_partitions() -> bool:
        return second_metrics.sink_partitions._value.get() > 0

    async def scenario() -> None:
        first = asyncio.create_task(ClickHouseSink(settings, store, codec, Metrics()).run())
        await asyncio.to_thread(produce, settings.kafka.bootstrap_servers, messages[: N // 2])
        await wait_until(lambda: landed_at_least(1000), 60, "the first sink to land rows")
        second_store = open_sink_store(settings)
        second = asyncio.create_task(ClickHouseSink(settings, second_store, codec, second_metrics).run())
        await wait_until(second_has_partitions, 60, "the second sink to be assigned partitions")
        await asyncio.to_thread(produce, settings.kafka.bootstrap_servers, messages[N // 2 :])
        await wait_until(lambda: landed_at_least(N * 3 // 4), 120, "three quarters landed")
        second.cancel()  # leaves the group: its partitions go back to the first sink
        await asyncio.gather(second, return_exceptions=True)
        second_store.close()
        await wait_until(lambda: landed_at_least(N), 180, "everything landed")
        # A batch's rows are visible a moment before its offsets are committed: stop only after.
        await wait_until(lambda: _committed_to_end(settings), 60, "the group to commit the whole log")
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        total, distinct, _ = await counts(store)
        assert (total, distinct) == (N, N)

    try:
        asyncio.run(scenario())
        ids = {row[0] for row in store.query_rows(f"SELECT event_id FROM {store.log_table} FINAL")}
        assert ids == {m[1].decode() for m in messages}
        # Still at the end once both sinks are gone (a stop never moves a commit back).
        assert asyncio.run(_committed_to_end(settings))
    finally:
        store.close()


def test_a_corrupt_record_is_set_aside_not_retried_forever(env: Pipeline, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {**env.vars, "CLICKHOUSE_URL": f"chdb://{tmp_path / 'corrupt'}", "ACTIONLOG_SINK_MAX_BACKOFF": "0.2"}
    )
    asyncio.run(ensure_topics(settings.kafka))
    codec = AvroCodec()
    good = log_messages(settings, 50)
    log_topic = settings.kafka.topics.log
    # Our framing and fingerprint, then garbage: only ClickHouse would notice, at insert time.
    bad = (log_topic, b"bad", MAGIC + codec.fingerprint + b"\xff" * 40, [("trace", b"t-9")])
    foreign = (log_topic, b"json", b'{"not": "avro"}', None)  # not one of our records at all
    sent = produce(settings.kafka.bootstrap_servers, [*good[:25], bad, *good[25:], foreign])
    store = open_sink_store(settings)
    metrics = Metrics()

    async def scenario() -> None:
        sink = asyncio.create_task(ClickHouseSink(settings, store, codec, metrics).run())
        await wait_until(lambda: _landed(store, 50), 60, "the good records to land")
        await wait_until(lambda: _committed_to_end(settings), 60, "the sink to commit the whole log")
        sink.cancel()
        await asyncio.gather(sink, return_exceptions=True)
        assert (await counts(store))[:2] == (50, 50)

    try:
        asyncio.run(scenario())
        assert metrics.sink_set_aside.labels("undecodable")._value.get() == 2
        letters = consume_all(settings.kafka.bootstrap_servers, settings.kafka.topics.set_aside, 2)
        assert len(letters) == 2
        by_value = {m.value: m for m in letters}
        for (_, key, value, headers), meta in ((bad, sent[25]), (foreign, sent[-1])):
            letter = by_value[value]  # the message itself, byte for byte
            info = parse_dead_letter(letter.headers)
            assert letter.key == key
            assert (info.reason, info.source_topic, info.source_partition, info.source_offset) == (
                "undecodable",
                log_topic,
                meta.partition,
                meta.offset,
            )
            assert original_headers(letter.headers) == (headers or [])
    finally:
        store.close()


async def _committed_to_end(settings: Settings) -> bool:
    topic = settings.kafka.topics.log
    bootstrap = settings.kafka.bootstrap_servers
    committed = await asyncio.to_thread(committed_offsets, bootstrap, settings.sink.group_id)
    ends = await asyncio.to_thread(end_offsets, bootstrap, topic)
    return {p: o for (t, p), o in committed.items() if t == topic} == ends


async def _landed(store: ClickHouseStore, n: int) -> bool:
    return (await counts(store))[0] >= n
