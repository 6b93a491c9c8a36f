"""The event log's Avro framing, its equality with fastavro, and schema evolution (CONTRACT §3)."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import to_parsing_canonical_form
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actionlog.core.avro as avro_module
from actionlog.core.avro import AvroCodec, BadFraming, UnknownSchema
from actionlog.core.catalog import ALL_SOURCES, TYPES
from actionlog.core.record import LogRecord
from testkit.avro_spec import crc64_avro

SCHEMA_DIR = Path(str(files("schemas")))
CURRENT = json.loads((SCHEMA_DIR / "content_action.avsc").read_text(encoding="utf-8"))
CODEC = AvroCodec()


def sample(**changes: Any) -> LogRecord:
    fields: dict[str, Any] = {
        "event_id": "0b6f3c1e-3f0a-4a55-9d2e-6a1f0c9b7d21",
        "occurred_at": 1_793_711_106_123,
        "action_type": "enrollment",
        "source": "course_purchase",
        "learner_id": "u-1029",
        "email": "ada.lovelace@example.com",
        "panorama_id": "p-7",
        "panorama_name": "Acme Academy",
        "content_id": "c-42",
        "content_type": "course",
        "content_title": 'Intro to "Safety", Part 1',
        "course_group_id": "g-9",
        "actor_id": "m-3",
        "actor_email": "manager@example.com",
        "kafka_topic": "lms.enrollments",
        "kafka_partition": 3,
        "kafka_offset": 123456,
    }
    fields.update(changes)
    return LogRecord(**fields)


def fastavro_body(schema: dict[str, Any], datum: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(copy.deepcopy(schema)), datum)
    return buf.getvalue()


def test_schema_has_the_contract_columns_in_order() -> None:
    assert CURRENT["type"] == "record"
    assert (CURRENT["namespace"], CURRENT["name"]) == ("actionlog", "ContentAction")
    names = [f["name"] for f in CURRENT["fields"]]
    assert names == [
        "event_id", "occurred_at", "action_type", "source", "learner_id", "email", "panorama_id",
        "panorama_name", "content_id", "content_type", "content_title", "course_group_id", "actor_id",
        "actor_email", "kafka_topic", "kafka_partition", "kafka_offset",
    ]  # fmt: skip
    assert names == [f.name for f in dataclasses.fields(LogRecord)]
    assert all(f.get("doc") for f in CURRENT["fields"])
    types = {f["name"]: f["type"] for f in CURRENT["fields"]}
    assert types["occurred_at"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert (types["kafka_partition"], types["kafka_offset"]) == ("int", "long")
    assert types["action_type"]["symbols"][-1] == types["source"]["symbols"][-1] == "unknown"


def test_fingerprint_is_crc64_avro_of_canonical_form_little_endian() -> None:
    canonical = to_parsing_canonical_form(CURRENT).encode("utf-8")
    assert CODEC.fingerprint == crc64_avro(canonical).to_bytes(8, "little")
    assert avro_module.schema_fingerprint(CURRENT) == CODEC.fingerprint


def test_framing() -> None:
    data = CODEC.encode(sample())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == CODEC.fingerprint
    assert data[10:] == fastavro_body(CURRENT, dataclasses.asdict(sample()))


def test_consumer_with_only_the_avsc_and_fastavro_decodes() -> None:
    record = sample(content_title="Café “quotes”, commas\nand 🎓")
    data = CODEC.encode(record)
    # What any consumer does: read the .avsc, check the marker and fingerprint, read the body.
    schema = json.loads((SCHEMA_DIR / "content_action.avsc").read_text(encoding="utf-8"))
    by_fingerprint = {crc64_avro(to_parsing_canonical_form(schema).encode()).to_bytes(8, "little"): schema}
    assert data[:2] == b"\xc3\x01"
    writer = by_fingerprint[data[2:10]]
    decoded = fastavro.schemaless_reader(io.BytesIO(data[10:]), fastavro.parse_schema(writer))
    expected = dataclasses.asdict(record)
    expected["occurred_at"] = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=record.occurred_at)
    assert decoded == expected


def test_round_trip_through_codec() -> None:
    record = sample(panorama_id="", panorama_name="", actor_id="", actor_email="")
    data = CODEC.encode(record)
    assert CODEC.decode(data) == dataclasses.asdict(record)
    assert CODEC.decode_record(data) == record
    assert CODEC.decode(bytearray(data)) == dataclasses.asdict(record)


ids = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
records = st.builds(
    LogRecord,
    event_id=ids,
    occurred_at=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    action_type=st.sampled_from(TYPES),
    source=st.sampled_from(ALL_SOURCES),
    learner_id=ids,
    email=ids,
    panorama_id=ids,
    panorama_name=ids,
    content_id=ids,
    content_type=ids,
    content_title=st.text(st.characters(exclude_categories=["Cs"]), max_size=5000)
    | st.sampled_from(["", "x" * 4096, "x" * 4097, "é" * 2048, "é" * 2049, "🎓" * 1100]),
    course_group_id=ids,
    actor_id=ids,
    actor_email=ids,
    kafka_topic=ids,
    kafka_partition=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    kafka_offset=st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from([0, 63, 64, 8191, 8192, 2**27, 2**41, 2**55, 2**62]),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_encoding_is_byte_identical_to_fastavro(record: LogRecord) -> None:
    data = CODEC.encode(record)
    assert data[10:] == fastavro_body(CURRENT, dataclasses.asdict(record))
    assert CODEC.decode(data) == dataclasses.asdict(record)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"source": "carrier_pigeon"}, ValueError),
        ({"action_type": "unknownish"}, ValueError),
        ({"kafka_partition": 2**31}, ValueError),
        ({"kafka_partition": -(2**31) - 1}, ValueError),
        ({"kafka_offset": 2**63}, ValueError),
        ({"occurred_at": -(2**63) - 1}, ValueError),
        ({"occurred_at": 1.5}, TypeError),
        ({"content_title": "lone \ud800 surrogate"}, ValueError),
        ({"email": None}, TypeError),
    ],
)
def test_encode_refuses_values_outside_the_schema(changes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        CODEC.encode(sample(**changes))


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc3", b"\xc3\x01", b"\xc3\x01" + b"\x00" * 7, b"{}", b"\x00\x01" + b"\x00" * 20],
)
def test_decode_refuses_bad_framing(data: bytes) -> None:
    with pytest.raises(BadFraming):
        CODEC.decode(data)


def test_decode_refuses_unknown_fingerprint() -> None:
    data = bytearray(CODEC.encode(sample()))
    data[2] ^= 0xFF
    with pytest.raises(UnknownSchema) as info:
        CODEC.decode(bytes(data))
    assert isinstance(info.value, ValueError)


def test_decode_refuses_truncated_body_and_trailing_bytes() -> None:
    data = CODEC.encode(sample())
    with pytest.raises(BadFraming):
        CODEC.decode(data[:-3])
    with pytest.raises(BadFraming):
        CODEC.decode(data + b"\x00")


def test_decode_refuses_out_of_range_enum_index() -> None:
    data = CODEC.encode(sample())
    body = bytearray(data[10:])
    enum_at = 1 + len(b"0b6f3c1e-3f0a-4a55-9d2e-6a1f0c9b7d21") + 6  # length prefix, id, 6-byte timestamp
    assert body[enum_at] == 0  # "enrollment"
    body[enum_at] = 2 * 50  # no symbol 50
    with pytest.raises(BadFraming):
        CODEC.decode(data[:10] + bytes(body))


#: What fastavro raises for a body that does not decode (anything else is a bug, not a refusal).
FASTAVRO_REFUSALS = (EOFError, ValueError, IndexError, UnicodeDecodeError, OverflowError)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(records, st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=3), st.integers(-5, 3))
def test_decoding_corrupted_messages_agrees_with_fastavro(
    record: LogRecord, flips: list[tuple[int, int]], cut: int
) -> None:
    """Our decoder of current-schema bodies: only BadFraming, and fastavro's answer when it has one."""
    data = bytearray(CODEC.encode(record))
    for at, value in flips:
        data[10 + at % (len(data) - 10)] = value
    data = data[: len(data) + cut] if cut < 0 else data + b"\x00" * cut
    why = ""
    try:
        ours: dict[str, Any] | None = CODEC.decode(bytes(data))
    except BadFraming as exc:
        ours, why = None, str(exc)
    buf = io.BytesIO(bytes(data[10:]))
    try:
        theirs: Any = fastavro.schemaless_reader(buf, fastavro.parse_schema(avro_module._strip_logical_types(CURRENT)))
        if buf.tell() != len(data) - 10:
            theirs = None  # trailing bytes
    except FASTAVRO_REFUSALS:
        theirs = None
    if ours is not None:
        assert ours == theirs
    elif theirs is not None:
        # We refuse more than fastavro in two documented ways only: an int beyond 32 bits, a
        # varint longer than a 64-bit long's 10 bytes.
        assert "does not fit an Avro int" in why or "longer than 10 bytes" in why, (why, theirs)


def test_decode_refuses_an_int_out_of_range() -> None:
    data = CODEC.encode(sample(kafka_partition=0, kafka_offset=0))
    assert data[-2:] == b"\x00\x00"
    too_big = avro_module._varint(2**31).encode("latin-1")
    with pytest.raises(BadFraming, match="kafka_partition"):
        CODEC.decode(data[:-2] + too_big + b"\x00")


# --- schema evolution ----------------------------------------------------------------------


def next_version() -> dict[str, Any]:
    """A plausible next schema: one more field with a default, one more Source symbol."""
    schema = copy.deepcopy(CURRENT)
    for field in schema["fields"]:
        if field["name"] == "source":
            symbols = field["type"]["symbols"]
            symbols.insert(symbols.index("unknown"), "carrier_pigeon")
    schema["fields"].append({"name": "learner_locale", "type": "string", "default": "", "doc": "test"})
    return schema


def test_old_records_decode_with_the_next_version() -> None:
    new = next_version()
    record = sample()
    data = CODEC.encode(record)
    decoded = fastavro.schemaless_reader(
        io.BytesIO(data[10:]), fastavro.parse_schema(copy.deepcopy(CURRENT)), fastavro.parse_schema(new)
    )
    expected: dict[str, Any] = dataclasses.asdict(record)
    expected["occurred_at"] = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=record.occurred_at)
    assert decoded == {**expected, "learner_locale": ""}


def test_newer_records_with_unknown_symbol_decode_to_unknown() -> None:
    new = next_version()
    datum = {**dataclasses.asdict(sample()), "source": "carrier_pigeon", "learner_locale": "fr-FR"}
    body = fastavro_body(new, datum)
    decoded: Any = fastavro.schemaless_reader(
        io.BytesIO(body), fastavro.parse_schema(new), fastavro.parse_schema(copy.deepcopy(CURRENT))
    )
    assert decoded["source"] == "unknown"
    assert "learner_locale" not in decoded
    # The codec does the same once it knows the newer writer schema.
    codec = AvroCodec(extra_writer_schemas=[new])
    framed = b"\xc3\x01" + avro_module.schema_fingerprint(new) + body
    assert avro_module.schema_fingerprint(new) != CODEC.fingerprint
    assert codec.decode(framed) == {**dataclasses.asdict(sample()), "source": "unknown"}
    with pytest.raises(UnknownSchema):
        CODEC.decode(framed)


def test_history_schemas_are_loaded_and_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend today's schema is history and the next version is current: old records still decode."""
    package = tmp_path / "schemas"
    (package / "history").mkdir(parents=True)
    shutil.copy(SCHEMA_DIR / "content_action.avsc", package / "history" / "content_action.v1.avsc")
    new = next_version()
    (package / "content_action.avsc").write_text(json.dumps(new), encoding="utf-8")
    monkeypatch.setattr(avro_module, "files", lambda name: package)
    monkeypatch.setattr(avro_module, "_check_layout", lambda schema: None)  # LogRecord is still v1
    codec = AvroCodec()
    assert CODEC.fingerprint in codec.writer_fingerprints
    assert codec.writer_fingerprints[0] == avro_module.schema_fingerprint(new)
    old = CODEC.encode(sample())
    assert codec.decode(old) == {**dataclasses.asdict(sample()), "learner_locale": ""}


def test_every_released_schema_is_kept_and_its_records_decode() -> None:
    """schemas/history keeps every released version, the current one included, and a record
    written with any of them (by fastavro alone) decodes to the current schema."""
    history = sorted((SCHEMA_DIR / "history").glob("*.avsc"))
    assert history, "schemas/history/ must keep every released schema version"
    fingerprints = set()
    for path in history:
        old = json.loads(path.read_text(encoding="utf-8"))
        fp = avro_module.schema_fingerprint(old)
        fingerprints.add(fp)
        assert fp in CODEC.writer_fingerprints, path.name
        names = {f["name"] for f in old["fields"]}
        datum = {k: v for k, v in dataclasses.asdict(sample()).items() if k in names}
        decoded = CODEC.decode(b"\xc3\x01" + fp + fastavro_body(old, datum))
        assert {k: decoded[k] for k in datum} == datum, path.name
    assert CODEC.fingerprint in fingerprints, "the current schema must be kept in schemas/history/ too"


def test_layout_check_refuses_a_schema_the_encoder_does_not_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "schemas"
    package.mkdir()
    swapped = copy.deepcopy(CURRENT)
    swapped["fields"][4], swapped["fields"][5] = swapped["fields"][5], swapped["fields"][4]
    (package / "content_action.avsc").write_text(json.dumps(swapped), encoding="utf-8")
    monkeypatch.setattr(avro_module, "files", lambda name: package)
    with pytest.raises(RuntimeError, match="do not match LogRecord"):
        AvroCodec()
