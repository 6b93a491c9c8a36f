"""The sink's Avro container block: any Avro reader (fastavro here) reads back the same records."""

from __future__ import annotations

import io
import json

import fastavro

from actionlog.core.avro import AvroCodec
from actionlog.core.avro import container as avro_container
from actionlog.core.record import LogRecord
from actionlog.processor.normalize import normalize
from testkit.events import events


def test_container_of_bodies_reads_back_as_the_records() -> None:
    codec = AvroCodec()
    records = []
    for i, g in enumerate(events(300, seed=5)):
        r = normalize(g.encode(), g.action_type, topic="t", partition=1, offset=i)
        assert isinstance(r, LogRecord)
        records.append(r)
    bodies = [codec.encode(r)[10:] for r in records]
    blob = avro_container(bodies, json.dumps(codec.schema).encode())
    read = list(fastavro.reader(io.BytesIO(blob)))
    assert [d["event_id"] for d in read] == [r.event_id for r in records]
    assert [d["kafka_offset"] for d in read] == list(range(300))
    assert {d["source"] for d in read} == {r.source for r in records}


def test_empty_container_is_valid() -> None:
    codec = AvroCodec()
    assert list(fastavro.reader(io.BytesIO(avro_container([], json.dumps(codec.schema).encode())))) == []
