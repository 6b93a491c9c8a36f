"""A sink run in the test's own process, on the real broker and a real embedded store: log
messages to feed it, its store, and what landed (rows as stored, no FINAL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from actionlog.core.avro import AvroCodec
from actionlog.core.record import RECORD_COLUMNS, LogRecord
from actionlog.core.settings import Settings
from actionlog.processor.normalize import normalize
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.schema import ensure_log_schema
from testkit.events import events
from testkit.kafka import Message

__all__ = ["landed_records", "log_records", "open_sink_store", "raw_count", "wait_until"]


def log_records(n: int, seed: int) -> list[LogRecord]:
    """``n`` distinct records, as the normalizer makes them from generated events."""
    out = []
    for i, g in enumerate(events(n, seed=seed)):
        record = normalize(g.encode(), g.action_type, topic="up", partition=0, offset=i)
        assert isinstance(record, LogRecord)
        out.append(record)
    return out


def encoded(settings: Settings, records: list[LogRecord], codec: AvroCodec | None = None) -> list[Message]:
    """Log messages (key: the event id) of the current schema."""
    codec = codec or AvroCodec()
    return [(settings.kafka.topics.log, r.event_id.encode(), codec.encode(r), None) for r in records]


def open_sink_store(settings: Settings) -> ClickHouseStore:
    store = ClickHouseStore(settings.clickhouse).connect()
    ensure_log_schema(store, settings.clickhouse.database, settings.clickhouse.table)
    return store


def raw_count(store: ClickHouseStore) -> int:
    """Rows as stored: a duplicate counts twice."""
    return int(store.query_rows(f"SELECT count() FROM {store.log_table}")[0][0])


def landed_records(store: ClickHouseStore) -> list[dict[str, Any]]:
    """Every row as stored, as the record's fields (``occurred_at`` in epoch ms), by event id."""
    columns = [c.name for c in RECORD_COLUMNS]
    select = ", ".join("toUnixTimestamp64Milli(occurred_at)" if c == "occurred_at" else c for c in columns)
    rows = store.query_rows(f"SELECT {select} FROM {store.log_table} ORDER BY event_id")
    return [dict(zip(columns, row, strict=True)) for row in rows]


async def wait_until(predicate: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """Await ``predicate`` until it returns something truthy, and return that.

    Raises:
        AssertionError: still falsy after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
