"""Landing one batch on the real embedded engine: any mix of ``occurred_at`` lands, a row the store
refuses is found and set aside while the rest lands, and landing the same batch again writes
nothing twice (the tokens of the pieces are deterministic)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from actionlog.core.avro import HEADER_LEN, MAGIC, AvroCodec
from actionlog.core.metrics import Metrics
from actionlog.core.record import LogRecord
from actionlog.core.settings import Settings
from actionlog.sink.batch import Batch, SetAside
from actionlog.sink.health import SinkHealth
from actionlog.sink.insert import Lander
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.schema import ensure_log_schema
from testkit.rows import row

pytestmark = pytest.mark.integration

CODEC = AvroCodec()
TOPIC = "log"


def body(event_id: str, occurred_at: int) -> bytes:
    return CODEC.encode(LogRecord(**row(event_id=event_id, occurred_at=occurred_at)))[HEADER_LEN:]


def spread_over(first: int, last: int, step: int) -> list[int]:
    """Epoch ms of instants every ``step`` months from January of ``first`` to December of ``last``
    (both included), each at a different moment of its month."""
    months = [(y, m) for y in range(first, last + 1) for m in range(1, 13)]
    chosen = [*months[::step], months[-1]] if (len(months) - 1) % step else months[::step]
    return [
        int(datetime(y, m, 1 + i % 28, i % 24, tzinfo=UTC).timestamp() * 1000) + i for i, (y, m) in enumerate(chosen)
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore(Settings.from_env({"CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}"}).clickhouse).connect()
    ensure_log_schema(s, s.settings.database, s.settings.table)
    try:
        yield s
    finally:
        s.close()


def lander(store: ClickHouseStore, metrics: Metrics | None = None) -> Lander:
    settings = Settings.from_env({"CLICKHOUSE_URL": store.settings.url, "ACTIONLOG_SINK_MAX_BACKOFF": "0.2"})
    return Lander(settings, store, CODEC, metrics or Metrics(), SinkHealth())


def counts(store: ClickHouseStore) -> tuple[int, int]:
    """(rows through FINAL, rows as stored)."""
    sql = f"SELECT count(), (SELECT count() FROM {store.log_table}) FROM {store.log_table} FINAL"
    got = store.query_rows(sql)[0]
    return int(got[0]), int(got[1])


def test_a_batch_spanning_1970_to_2299_lands_and_landing_it_again_writes_nothing(store: ClickHouseStore) -> None:
    # A month in 36, both ends included: 111 partitions, more than one INSERT block may touch
    # (every month of the span would cost ClickHouse a minute of part writing here).
    starts = spread_over(1970, 2299, 36)
    assert len(starts) == 111
    assert datetime.fromtimestamp(starts[0] / 1000, UTC).year == 1970
    assert datetime.fromtimestamp(starts[-1] / 1000, UTC).strftime("%Y-%m") == "2299-12"
    batch = Batch()
    for offset, ms in enumerate(starts):
        batch.add(offset % 3, offset, body(f"m-{offset}", ms))
    metrics = Metrics()
    refused = asyncio.run(lander(store, metrics).land(batch, TOPIC))
    assert refused == []
    assert counts(store) == (len(starts), len(starts))
    months = store.query_rows(f"SELECT uniqExact(toYYYYMM(occurred_at)) FROM {store.log_table}")
    assert months == [(len(starts),)]
    assert metrics.sink_failures._value.get() == 0  # cut by month, never retried in front of the others

    # The same batch again (a crash before the commit, a lost answer): every piece is a no-op.
    again = asyncio.run(lander(store).land(batch, TOPIC))
    assert again == []
    assert counts(store) == (len(starts), len(starts))


def test_rows_the_store_refuses_are_set_aside_and_the_rest_lands(store: ClickHouseStore) -> None:
    # A constraint the operator added: the store itself refuses these rows, whatever we retry.
    store.command(f"ALTER TABLE {store.log_table} ADD CONSTRAINT no_poison CHECK NOT startsWith(event_id, 'poison')")
    poison = {17, 250, 251, 999}
    batch = Batch()
    for i in range(1000):
        event_id = f"poison-{i}" if i in poison else f"ok-{i}"
        headers = [("trace", b"t")] if i == 250 else None
        batch.add(0, 100 + i, body(event_id, 1_790_000_000_000 + i), event_id.encode(), headers)
    garbage = MAGIC + CODEC.fingerprint + b"\xff" * 40
    batch.add(1, 7, garbage[HEADER_LEN:], b"g")  # our framing, a body nobody can read
    metrics = Metrics()
    letters = asyncio.run(lander(store, metrics).land(batch, TOPIC))

    assert counts(store) == (1000 - len(poison), 1000 - len(poison))
    refused = [letter for letter in letters if letter.reason == "refused"]
    assert sorted(letter.offset for letter in refused) == sorted(100 + i for i in poison)
    for letter in refused:
        assert letter.code == 469 and "VIOLATED_CONSTRAINT" in letter.detail
        assert letter.key == f"poison-{letter.offset - 100}".encode()
        assert CODEC.decode(letter.value or b"")["event_id"] == letter.key.decode()  # the record itself
    assert next(letter for letter in refused if letter.offset == 350).headers == [("trace", b"t")]
    [undecodable] = [letter for letter in letters if letter.reason == "undecodable"]
    assert (undecodable.partition, undecodable.offset, undecodable.key, undecodable.value) == (1, 7, b"g", garbage)
    assert len(letters) == len(poison) + 1
    # Halving finds 4 rows among 1000 in far fewer inserts than one per row.
    assert 4 <= metrics.sink_splits._value.get() < 100

    before = counts(store)
    assert [asdict_key(x) for x in asyncio.run(lander(store).land(batch, TOPIC))] == [asdict_key(x) for x in letters]
    assert counts(store) == before  # landing the batch again: the same pieces, no-ops


def asdict_key(letter: SetAside) -> tuple[object, ...]:
    return (letter.partition, letter.offset, letter.reason, letter.code)
