"""Normalization on the real broker: a mixed batch on the four topics; every good event is on the
log exactly once with the right values, every bad one on the dead-letter topic with the right
reason and its bytes, key and headers unchanged; nothing else."""

from __future__ import annotations

import io
import json
import struct
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest

from actionlog.core.catalog import SOURCES_BY_TYPE
from testkit.avro_spec import crc64_avro
from testkit.contract import REQUIRED_FIELDS
from testkit.events import contract_event
from testkit.kafka import consume_all, produce
from testkit.pipeline import Pipeline, http_get, wait_for

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
TITLES = [
    'Intro to "Safety", Part 1',
    "Line one\nline two, with comma",
    "Émoji 🎓 — «guillemets» 中文",
    '=HYPERLINK("http://x")',
    "plain",
]
ZONES = ["+01:00", "Z", "-05:00", "+05:30", "+14:00", "-00:00"]


def alias(source: str, i: int) -> str:
    """Spell a canonical source the way upstream teams might."""
    return [source, source.upper(), source.replace("_", "-"), source.title().replace("_", "-")][i % 4]


def good_events() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(action type, event, expected normalized record) for every catalog pair, varied."""
    out = []
    i = 0
    for action_type, sources in SOURCES_BY_TYPE.items():
        for source in sources:
            i += 1
            eid = str(uuid.uuid4())
            title = TITLES[i % len(TITLES)]
            panorama = None if i % 5 == 0 else {"id": f"p-{i % 3}", "name": f"Panorama {i % 3}"}
            if i % 3 == 0:
                ms = 1_762_000_000_000 + i * 1_000 + 7
                occurred: Any = ms
            else:
                zone = ZONES[i % len(ZONES)]
                text = f"2026-11-{(i % 27) + 1:02d}T{i % 24:02d}:{i % 60:02d}:05.12{i % 10}{zone}"
                occurred = text
                ms = int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
            event = {
                "event_id": eid,
                "occurred_at": occurred,
                "source": alias(source, i),
                "learner": {"id": f"u-{i}", "email": f"  Learner.{i}@Example.COM "},
                "panorama": panorama,
                "content": {"id": f"c-{i}", "type": ["Course", "WEBINAR", "video"][i % 3], "title": title},
                "future_field": {"ignored": True},
            }
            if i % 2:
                event["content"]["course_group_id"] = f"g-{i % 4}"
                event["actor"] = {"id": f"m-{i}", "email": "Manager@Example.com"}
            expected = {
                "event_id": eid,
                "occurred_at": ms,
                "action_type": action_type,
                "source": source,
                "learner_id": f"u-{i}",
                "email": f"learner.{i}@example.com",
                "panorama_id": panorama["id"] if panorama else "",
                "panorama_name": panorama["name"] if panorama else "",
                "content_id": f"c-{i}",
                "content_type": ["course", "webinar", "video"][i % 3],
                "content_title": title,
                "course_group_id": f"g-{i % 4}" if i % 2 else "",
                "actor_id": f"m-{i}" if i % 2 else "",
                "actor_email": "manager@example.com" if i % 2 else "",
            }
            out.append((action_type, event, expected))
    return out


def valid(**over: Any) -> dict[str, Any]:
    return contract_event(**{"event_id": "random", **over})


def without(path: str) -> bytes:
    e = valid()
    parent, _, leaf = path.rpartition(".")
    target = e[parent] if parent else e
    del target[leaf]
    return orjson.dumps(e)


BAD: list[tuple[str, bytes | None, str]] = [
    ("enrollment", b"not json at all", "malformed_json"),
    ("enrollment", b"[1, 2, 3]", "malformed_json"),
    ("status_change", b"", "malformed_json"),
    ("revoked_access", b"\xff\xfe\xfa", "malformed_json"),
    ("certificate_grant", b"null", "malformed_json"),
    ("enrollment", b'"a string"', "malformed_json"),
    *[("enrollment", without(f), "missing_field") for f in REQUIRED_FIELDS],
    ("enrollment", orjson.dumps(valid(occurred_at="2026-11-03T14:05:06")), "invalid_timestamp"),
    ("enrollment", orjson.dumps(valid(occurred_at="yesterday")), "invalid_timestamp"),
    ("enrollment", orjson.dumps(valid(source="teleportation")), "unknown_source"),
    ("enrollment", orjson.dumps(valid(source="passed_exam")), "unknown_source"),  # a certificate_grant source
    ("enrollment", orjson.dumps(valid(learner={"id": "u", "email": "not-an-address"})), "invalid_field"),
    (
        "enrollment",
        orjson.dumps(valid(content={"id": "c", "type": "course", "title": "x" * (1 << 20)})),
        "invalid_field",
    ),
    ("enrollment", orjson.dumps(valid(event_id="")), "invalid_field"),
    ("enrollment", orjson.dumps(valid(event_id=42)), "invalid_field"),
    # missing_field wins over unknown_source; invalid_timestamp over invalid_field
    ("enrollment", orjson.dumps({k: v for k, v in valid(source="nope").items() if k != "content"}), "missing_field"),
    ("enrollment", orjson.dumps(valid(occurred_at="bad", event_id="")), "invalid_timestamp"),
]


def decode_with_schemas_only(data: bytes) -> dict[str, Any]:
    """What any consumer holding schemas/ can do: check the framing, find the schema, read."""
    assert data[:2] == b"\xc3\x01"
    fp = data[2:10]
    for path in SCHEMAS.rglob("*.avsc"):
        schema = json.loads(path.read_text())
        canonical = fastavro.schema.to_parsing_canonical_form(schema)
        if struct.pack("<Q", crc64_avro(canonical.encode())) == fp:
            parsed = fastavro.parse_schema(schema)
            return fastavro.schemaless_reader(io.BytesIO(data[10:]), parsed)  # type: ignore[return-value]
    raise AssertionError(f"no schema in schemas/ has fingerprint {fp.hex()}")


def as_ms(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.astimezone(UTC).timestamp() * 1000)
    return int(value)


@pytest.mark.parametrize("engine", ["faust", "aiokafka"])
def test_mixed_batch_is_split_into_log_and_dead_letters(env: Pipeline, engine: str) -> None:
    env.vars["ACTIONLOG_PROCESSOR_ENGINE"] = engine
    bootstrap = env.vars["KAFKA_BOOTSTRAP_SERVERS"]
    goods = good_events()
    assert len(goods) == 54
    messages = [(env.topic(t), e["event_id"].encode(), orjson.dumps(e), None) for t, e, _ in goods]
    bad_messages = [
        (env.topic(t), f"key-{n}".encode(), value, [("trace-id", f"tr-{n}".encode()), ("x", b"\x00\x01")])
        for n, (t, value, _) in enumerate(BAD)
    ]
    env.start_worker()
    env.wait_http()  # topics exist once the worker serves
    meta = produce(bootstrap, messages + bad_messages)
    bad_meta = meta[len(messages) :]

    log_msgs = consume_all(bootstrap, env.vars["ACTIONLOG_TOPIC_LOG"], len(goods))
    dlq_msgs = consume_all(bootstrap, env.vars["ACTIONLOG_TOPIC_DLQ"], len(BAD))

    # The log: every good event exactly once, right values, upstream position kept.
    assert len(log_msgs) == len(goods), env.worker_log()[-2000:]
    records = [decode_with_schemas_only(m.value) for m in log_msgs]
    by_id = {r["event_id"]: r for r in records}
    assert len(by_id) == len(goods)
    positions = {e["event_id"]: (md.topic, md.partition, md.offset) for (_, e, _), md in zip(goods, meta, strict=False)}
    for _, _, expected in goods:
        got = dict(by_id[expected["event_id"]])
        assert as_ms(got.pop("occurred_at")) == expected["occurred_at"]
        position = (got.pop("kafka_topic"), got.pop("kafka_partition"), got.pop("kafka_offset"))
        assert position == positions[expected["event_id"]]
        assert got == {k: v for k, v in expected.items() if k != "occurred_at"}

    # The dead letters: original bytes, key and headers, plus reason and position.
    assert len(dlq_msgs) == len(BAD)
    by_key = {m.key: m for m in dlq_msgs}
    for n, ((_, value, reason), md) in enumerate(zip(BAD, bad_meta, strict=True)):
        m = by_key[f"key-{n}".encode()]
        assert (m.value or b"") == (value or b""), n
        headers = list(m.headers)
        assert headers[:2] == [("trace-id", f"tr-{n}".encode()), ("x", b"\x00\x01")]
        h = dict(headers)
        assert h["actionlog.error.reason"].decode() == reason, (n, h)
        assert h["actionlog.error.detail"]
        assert h["actionlog.source.topic"].decode() == md.topic
        assert int(h["actionlog.source.partition"]) == md.partition
        assert int(h["actionlog.source.offset"]) == md.offset

    # And the counters say the same.
    def metrics_text() -> str | None:
        text = http_get(env.wait_http() + "/metrics", env.admin_token(), timeout=10).decode()
        return text if 'actionlog_events_rejected_total{reason="malformed_json"} 6.0' in text else None

    text = wait_for(metrics_text, timeout=30, what="metrics")
    assert (
        f'actionlog_events_rejected_total{{reason="missing_field"}} {sum(r == "missing_field" for *_, r in BAD)}.0'
        in text
    )
    accepted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("actionlog_events_accepted_total{")
    )
    assert accepted == len(goods)
