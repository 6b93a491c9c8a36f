"""The sink's batch: how old it is (from its first message, on the monotonic clock), and the form
of its dedup token (the topic, each partition's first-last offsets, a digest of the rows)."""

from __future__ import annotations

import types

import pytest

from actionlog.sink import batch as batch_module
from actionlog.sink.batch import Batch, SetAside


def _aside(partition: int, offset: int) -> SetAside:
    return SetAside(partition, offset, None, b"?", None, "undecodable", "not Avro")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(batch_module, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


def test_age_counts_from_the_first_message(clock: Clock) -> None:
    b = Batch()
    assert b.age() == 0.0
    clock.now += 5
    b.add(0, 1, b"a")  # the clock starts here
    assert b.age() == 0.0
    clock.now += 2.5
    b.add(0, 2, b"b")  # later messages do not restart it
    clock.now += 1
    assert b.age() == 3.5
    b.clear()
    assert b.age() == 0.0
    b.put_aside(_aside(0, 3))  # a message set aside starts it too: its offset waits for a commit
    clock.now += 1
    assert b.age() == 1.0


def test_token_names_the_topic_and_each_partitions_offsets() -> None:
    b = Batch()
    b.add(1, 7, b"x")
    b.add(0, 10, b"y")
    b.put_aside(_aside(0, 11))
    b.add(0, 12, b"z")
    topic, positions, digest = b.dedup_token("log").split("|")
    assert (topic, positions) == ("log", "0:10-12,1:7-7")
    assert len(digest) == 24 and int(digest, 16) >= 0
