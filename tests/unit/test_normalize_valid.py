"""Accepted events: what `normalize` makes of them (CONTRACT §2)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from actionlog.core.catalog import SOURCES_BY_TYPE, TYPES
from actionlog.core.record import LogRecord, Rejection
from actionlog.processor.normalize import MAX_OCCURRED_AT_MS, MIN_OCCURRED_AT_MS, normalize

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_of(dt: datetime) -> int:
    """Epoch milliseconds of an aware datetime, truncating microseconds."""
    return (dt - EPOCH) // timedelta(milliseconds=1)


def contract_example() -> dict[str, Any]:
    """The example event of CONTRACT §2."""
    return {
        "event_id": "0b6f3c1e-3f0a-4a55-9d2e-6a1f0c9b7d21",
        "occurred_at": "2026-11-03T14:05:06.123+01:00",
        "source": "course_purchase",
        "learner": {"id": "u-1029", "email": "Ada.Lovelace@Example.com"},
        "panorama": {"id": "p-7", "name": "Acme Academy"},
        "content": {
            "id": "c-42",
            "type": "course",
            "title": 'Intro to "Safety", Part 1',
            "course_group_id": "g-9",
        },
        "actor": {"id": "m-3", "email": "manager@example.com"},
    }


def run(event: dict[str, Any] | bytes, action_type: str = "enrollment") -> LogRecord:
    value = event if isinstance(event, bytes) else orjson.dumps(event)
    result = normalize(value, action_type, topic="lms.enrollments", partition=2, offset=41)
    assert isinstance(result, LogRecord), result
    return result


def test_contract_example() -> None:
    record = run(contract_example())
    assert record == LogRecord(
        event_id="0b6f3c1e-3f0a-4a55-9d2e-6a1f0c9b7d21",
        occurred_at=ms_of(datetime(2026, 11, 3, 13, 5, 6, 123000, tzinfo=UTC)),
        action_type="enrollment",
        source="course_purchase",
        learner_id="u-1029",
        email="ada.lovelace@example.com",
        panorama_id="p-7",
        panorama_name="Acme Academy",
        content_id="c-42",
        content_type="course",
        content_title='Intro to "Safety", Part 1',
        course_group_id="g-9",
        actor_id="m-3",
        actor_email="manager@example.com",
        kafka_topic="lms.enrollments",
        kafka_partition=2,
        kafka_offset=41,
    )


def test_record_is_a_real_frozen_dataclass() -> None:
    record = run(contract_example())
    rebuilt = LogRecord(**{f.name: getattr(record, f.name) for f in dataclasses.fields(LogRecord)})
    assert rebuilt == record
    assert hash(rebuilt) == hash(record)
    assert dataclasses.replace(record, email="x@y") != record
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.email = "x@y"  # type: ignore[misc]


@pytest.mark.parametrize(("action_type", "source"), [(t, s) for t in TYPES for s in SOURCES_BY_TYPE[t]])
def test_every_catalog_pair_is_accepted(action_type: str, source: str) -> None:
    event = contract_example()
    event["source"] = source.upper()
    record = run(event, action_type)
    assert (record.action_type, record.source) == (action_type, source)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-03T14:05:06Z", datetime(2026, 11, 3, 14, 5, 6, tzinfo=UTC)),
        ("2026-11-03t14:05:06z", datetime(2026, 11, 3, 14, 5, 6, tzinfo=UTC)),
        ("2026-11-03 14:05:06+00:00", datetime(2026, 11, 3, 14, 5, 6, tzinfo=UTC)),
        ("2026-11-03T14:05:06-00:00", datetime(2026, 11, 3, 14, 5, 6, tzinfo=UTC)),
        ("2026-11-03T14:05:06.1Z", datetime(2026, 11, 3, 14, 5, 6, 100000, tzinfo=UTC)),
        ("2026-11-03T14:05:06.12Z", datetime(2026, 11, 3, 14, 5, 6, 120000, tzinfo=UTC)),
        ("2026-11-03T14:05:06.123999Z", datetime(2026, 11, 3, 14, 5, 6, 123000, tzinfo=UTC)),
        ("2026-11-03T14:05:59.9999999999Z", datetime(2026, 11, 3, 14, 5, 59, 999000, tzinfo=UTC)),
        ("2026-11-03T14:05:06.000Z", datetime(2026, 11, 3, 14, 5, 6, tzinfo=UTC)),
        ("2026-11-03T14:05:06+05:30", datetime(2026, 11, 3, 8, 35, 6, tzinfo=UTC)),
        ("2026-11-03T14:05:06-08:00", datetime(2026, 11, 3, 22, 5, 6, tzinfo=UTC)),
        ("2026-01-01T00:30:00+01:00", datetime(2025, 12, 31, 23, 30, tzinfo=UTC)),
        ("2025-12-31T23:30:00-23:59", datetime(2026, 1, 1, 23, 29, tzinfo=UTC)),
        ("2024-02-29T12:00:00Z", datetime(2024, 2, 29, 12, tzinfo=UTC)),
        ("2000-02-29T12:00:00Z", datetime(2000, 2, 29, 12, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", EPOCH),
        ("1970-01-01T01:00:00+01:00", EPOCH),
        ("1969-12-31T23:59:00-00:01", EPOCH),  # a local date before 1970, an instant in range
        ("1969-12-31T23:30:00.5-01:00", datetime(1970, 1, 1, 0, 30, 0, 500000, tzinfo=UTC)),
        ("2299-12-31T23:59:59.999Z", datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps(raw: str, expected: datetime) -> None:
    event = contract_example()
    event["occurred_at"] = raw
    assert run(event).occurred_at == ms_of(expected)


@pytest.mark.parametrize("ms", [0, 1, 1_762_175_106_123, MAX_OCCURRED_AT_MS])
def test_epoch_millisecond_timestamps(ms: int) -> None:
    event = contract_example()
    event["occurred_at"] = ms
    assert run(event).occurred_at == ms


def test_range_bounds_are_the_documented_dates() -> None:
    assert ms_of(datetime(1970, 1, 1, tzinfo=UTC)) == MIN_OCCURRED_AT_MS
    assert ms_of(datetime(2300, 1, 1, tzinfo=UTC)) - 1 == MAX_OCCURRED_AT_MS


def test_timestamp_agrees_with_datetime_over_many_offsets() -> None:
    base = datetime(2026, 3, 29, 1, 59, 58, 987654, tzinfo=UTC)
    for minutes in range(-23 * 60 - 59, 23 * 60 + 60, 97):
        local = base.astimezone(timezone(timedelta(minutes=minutes)))
        event = contract_example()
        event["occurred_at"] = local.isoformat()
        assert run(event).occurred_at == ms_of(base), local.isoformat()


@pytest.mark.parametrize(
    ("panorama", "expected"),
    [
        (None, ("", "")),
        ({}, ("", "")),
        ({"id": None, "name": None}, ("", "")),
        ({"id": "p-1"}, ("p-1", "")),
        ({"name": "Only Name"}, ("", "Only Name")),
        ({"id": "", "name": ""}, ("", "")),
        ({"id": "p-2", "name": 'Ünïcode, "quoted"', "extra": [1]}, ("p-2", 'Ünïcode, "quoted"')),
    ],
)
def test_panorama(panorama: dict[str, Any] | None, expected: tuple[str, str]) -> None:
    event = contract_example()
    event["panorama"] = panorama
    record = run(event)
    assert (record.panorama_id, record.panorama_name) == expected


def test_panorama_absent_means_main_site() -> None:
    event = contract_example()
    del event["panorama"]
    record = run(event)
    assert (record.panorama_id, record.panorama_name) == ("", "")


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ("absent", ("", "")),
        (None, ("", "")),
        ({}, ("", "")),
        ({"id": None, "email": None}, ("", "")),
        ({"id": "m-1"}, ("m-1", "")),
        ({"email": ""}, ("", "")),
        ({"email": "   "}, ("", "")),
        ({"id": "m-2", "email": "  Boss@Corp.EXAMPLE "}, ("m-2", "boss@corp.example")),
    ],
)
def test_actor(actor: Any, expected: tuple[str, str]) -> None:
    event = contract_example()
    if actor == "absent":
        del event["actor"]
    else:
        event["actor"] = actor
    record = run(event)
    assert (record.actor_id, record.actor_email) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ada.Lovelace@Example.com", "ada.lovelace@example.com"),
        ("  ada@example.com\t\n", "ada@example.com"),
        ("\u00a0ADA@EXAMPLE.COM\u2003", "ada@example.com"),
        ("ÉLODIE@exemple.fr", "élodie@exemple.fr"),
        ("a@b", "a@b"),
        ("first+tag@sub.domain.example", "first+tag@sub.domain.example"),
    ],
)
def test_email_is_trimmed_and_lower_cased(raw: str, expected: str) -> None:
    event = contract_example()
    event["learner"]["email"] = raw
    assert run(event).email == expected


def test_email_normalization_is_the_same_on_a_repeated_address() -> None:
    event = contract_example()
    event["learner"]["email"] = " Repeat@Example.COM "
    first = run(event).email
    second = run(event).email
    assert first == second == "repeat@example.com"


def test_content_fields() -> None:
    event = contract_example()
    title = 'Line one,\nline "two", émoji 🎓 and a tab\t'
    event["content"] = {"id": "c-1", "type": "Learning_PATH", "title": title}
    record = run(event)
    assert (record.content_id, record.content_type, record.content_title) == ("c-1", "learning_path", title)
    assert record.course_group_id == ""


@pytest.mark.parametrize("group", [None, ""])
def test_course_group_null_or_empty(group: str | None) -> None:
    event = contract_example()
    event["content"]["course_group_id"] = group
    assert run(event).course_group_id == ""


def test_empty_type_and_title_are_allowed() -> None:
    event = contract_example()
    event["content"]["type"] = ""
    event["content"]["title"] = ""
    record = run(event)
    assert (record.content_type, record.content_title) == ("", "")


def test_source_alias_is_canonicalized() -> None:
    event = contract_example()
    event["source"] = "Gift-Course-Purchase"
    assert run(event).source == "gift_course_purchase"


def test_unknown_fields_are_ignored() -> None:
    plain = run(contract_example())
    event = contract_example()
    event["schema_version"] = 7
    event["nested"] = {"deep": [1, {"x": None}]}
    event["learner"]["name"] = "Ada"
    event["content"]["duration"] = 3.5
    event["panorama"]["theme"] = None
    event["actor"]["role"] = ["admin"]
    assert run(event) == plain


def test_length_limits_are_inclusive() -> None:
    event = contract_example()
    event["event_id"] = "e" * 128
    event["content"]["title"] = "t" * 4096
    event["learner"]["email"] = "a" * 4000 + "@example.com"  # 4012 characters
    event["panorama"]["name"] = "é" * 4096  # 8192 UTF-8 bytes, still 4096 characters
    record = run(event)
    assert record.event_id == "e" * 128
    assert len(record.content_title) == 4096
    assert record.panorama_name == "é" * 4096


def test_duplicate_keys_last_wins() -> None:
    value = orjson.dumps(contract_example())[:-1] + b',"source":"sso"}'
    assert run(value).source == "sso"


def test_kafka_position_is_copied() -> None:
    result = normalize(orjson.dumps(contract_example()), "revoked_access", topic="t", partition=7, offset=2**40)
    assert isinstance(result, Rejection)  # course_purchase is not a revoked_access source
    event = contract_example()
    event["source"] = "sso"
    record = normalize(orjson.dumps(event), "revoked_access", topic="t", partition=7, offset=2**40)
    assert isinstance(record, LogRecord)
    assert (record.kafka_topic, record.kafka_partition, record.kafka_offset) == ("t", 7, 2**40)
