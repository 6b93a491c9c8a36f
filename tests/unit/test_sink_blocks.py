"""How the sink cuts a block it could not insert whole: by table partition, in halves; the month of
a row read from its Avro body; the partition of an instant, as ClickHouse computes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actionlog.core.avro import HEADER_LEN, AvroCodec, occurred_at_of
from actionlog.core.record import LogRecord
from actionlog.sink.blocks import Block, by_partition, halves
from actionlog.store.schema import MAX_PARTITIONS_PER_INSERT, partition_of
from testkit.rows import row

CODEC = AvroCodec()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def body(occurred_at: int, event_id: str = "e") -> bytes:
    return CODEC.encode(LogRecord(**row(event_id=event_id, occurred_at=occurred_at)))[HEADER_LEN:]


def ms(y: int, m: int, d: int = 1) -> int:
    return int((datetime(y, m, d, tzinfo=UTC) - EPOCH) / timedelta(milliseconds=1))


@given(st.integers(min_value=ms(1900, 1), max_value=ms(2300, 1) - 1))
def test_the_partition_of_an_instant_is_its_utc_year_and_month(instant: int) -> None:
    when = EPOCH + timedelta(milliseconds=instant)
    assert partition_of(instant) == when.year * 100 + when.month


@given(st.integers(min_value=-(2**62), max_value=2**62), st.text(max_size=300))
def test_occurred_at_is_read_from_the_body_without_decoding_it(instant: int, event_id: str) -> None:
    assert occurred_at_of(body(instant, event_id)) == instant


@pytest.mark.parametrize("damaged", [b"", b"\x02", b"\xff" * 20, b"\x7f" + b"x" * 10])
def test_a_damaged_body_has_no_month(damaged: bytes) -> None:
    assert occurred_at_of(damaged) is None


def test_rows_are_cut_by_month_at_most_the_limit_each_in_month_order_unreadable_last() -> None:
    # 250 months from 2000-01, two rows in each, in a scrambled order; and two unreadable rows.
    months = [(2000 + k // 12, k % 12 + 1) for k in range(250)]
    bodies = [body(ms(y, m, 1 + i % 2)) for i, (y, m) in enumerate(months * 2)]
    bodies = bodies[1::2] + bodies[::2] + [b"\xff" * 12, b""]
    block = Block(tuple(range(len(bodies))), "tok")
    pieces = by_partition(block, bodies)
    seen: list[int] = []
    for piece in pieces[:-1]:
        got = [partition_of(occurred_at_of(bodies[i]) or 0) for i in piece.rows]
        assert len(set(got)) <= MAX_PARTITIONS_PER_INSERT
        assert list(piece.rows) == sorted(piece.rows)
        seen.extend(sorted(set(got)))
    assert seen == sorted(seen) == sorted(y * 100 + m for y, m in months)  # every month, in order, once
    assert [len(p) for p in pieces] == [200, 200, 100, 2]
    assert pieces[-1].rows == (len(bodies) - 2, len(bodies) - 1)
    assert sorted(i for p in pieces for i in p.rows) == list(block.rows)  # nothing lost, nothing doubled
    assert [p.token for p in pieces] == ["tok|m0", "tok|m1", "tok|m2", "tok|m3"]
    assert by_partition(block, bodies) == pieces  # the same batch always cuts the same way


def test_halves_and_removal_keep_every_row_once_under_derived_tokens() -> None:
    block = Block((3, 4, 5, 9, 11), "t")
    first, second = halves(block)
    assert (first, second) == (Block((3, 4), "t|0"), Block((5, 9, 11), "t|1"))
    assert block.without(frozenset({4, 9})) == Block((3, 5, 11), "t|k")
    with pytest.raises(ValueError):
        halves(Block((1,), "t"))
