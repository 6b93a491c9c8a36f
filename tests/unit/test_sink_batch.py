"""The sink's batch: per-partition buffering, commit offsets, dedup tokens."""

from __future__ import annotations

from actionlog.sink.batch import Batch, SetAside


def test_rows_come_partition_by_partition_in_offset_order() -> None:
    b = Batch()
    b.add(0, 10, b"a")
    b.add(1, 5, b"b")
    b.add(0, 11, b"c")
    assert len(b) == 3
    assert b.rows() == [b"a", b"c", b"b"]


def test_commit_offsets_are_next_to_read_including_set_aside_messages() -> None:
    b = Batch()
    b.add(0, 10, b"a")
    letter = SetAside(0, 11, b"k", b"junk", None, "undecodable", "not ours")
    b.put_aside(letter)  # an undecodable message is no row, but still moves the offset
    b.add(2, 7, b"b")
    assert len(b) == 2
    assert b.commit_offsets() == {0: 12, 2: 8}
    assert b.set_aside == [letter]


def test_each_row_knows_where_it_came_from() -> None:
    b = Batch()
    b.add(1, 5, b"x", b"kx", [("actionlog.replay.count", b"1")])
    b.add(0, 10, b"a", b"ka")
    b.add(0, 11, b"c")
    assert b.rows() == [b"a", b"c", b"x"]
    assert [b.origin(i) for i in range(3)] == [
        (0, 10, b"ka", None),
        (0, 11, None, None),
        (1, 5, b"kx", [("actionlog.replay.count", b"1")]),
    ]


def test_token_identifies_positions_and_content() -> None:
    def batch(ids: list[str], start: int = 0) -> Batch:
        b = Batch()
        for i, e in enumerate(ids):
            b.add(0, start + i, e.encode())
        return b

    assert batch(["x", "y"]).dedup_token("log") == batch(["x", "y"]).dedup_token("log")
    assert batch(["x", "y"]).dedup_token("log") != batch(["x", "z"]).dedup_token("log")  # recreated topic
    assert batch(["x", "y"]).dedup_token("log") != batch(["x", "y"], start=1).dedup_token("log")
    assert batch(["x"]).dedup_token("log") != batch(["x"]).dedup_token("other")


def test_clear_empties() -> None:
    b = Batch()
    b.add(0, 1, b"a")
    b.add(1, 1, b"b")
    b.clear()
    assert b.empty and len(b) == 0 and b.age() == 0.0 and b.commit_offsets() == {}
