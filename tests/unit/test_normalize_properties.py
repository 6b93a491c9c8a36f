"""Property tests: `normalize` never raises on anything, its two paths agree with each other and
with the contract (`testkit.contract`), valid events round-trip. The properties on mostly valid
input are in test_normalize_oracle.py and test_timestamp_property.py."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from actionlog.core.avro import AvroCodec
from actionlog.core.catalog import SOURCES_BY_TYPE, TYPES
from actionlog.core.record import MALFORMED_JSON, REASONS, LogRecord, Rejection
from actionlog.processor.normalize import diagnose, normalize
from testkit.contract import EVENT_PATHS, Accepted, Refused, expected_outcome

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CODEC = AvroCodec()
NO_SURROGATES = st.characters(exclude_categories=["Cs"])
TEXT = st.text(NO_SURROGATES, max_size=40)
# Printable, no whitespace, no control character, no "@".
ADDRESS_PART = st.text(
    st.characters(categories=["L", "M", "N", "P", "S"], exclude_characters="@"),
    min_size=1,
    max_size=20,
)
WHITESPACE = st.text(st.sampled_from(" \t\n\r\u00a0\u2003"), max_size=3)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)

KNOWN_PATHS = [*EVENT_PATHS, ("extra",)]


def call(value: bytes | None, action_type: str = "enrollment") -> LogRecord | Rejection:
    return normalize(value, action_type, topic="lms.enrollments", partition=1, offset=9)


def check_outcome(result: object) -> None:
    assert isinstance(result, LogRecord | Rejection)
    if isinstance(result, Rejection):
        assert result.reason in REASONS
        assert isinstance(result.detail, str)
        assert result.detail
        result.detail.encode("utf-8")  # a DLQ header: must be valid UTF-8


def check_paths_agree(obj: dict[str, Any], action_type: str) -> None:
    """The fast path accepts exactly when diagnose finds nothing, and refuses for diagnose's reason;
    both say what the independent reading of the contract says (`testkit.contract`)."""
    result = call(orjson.dumps(obj), action_type)
    check_outcome(result)
    found = diagnose(obj, action_type)
    expected = expected_outcome(obj, action_type)
    event("accepted" if isinstance(expected, Accepted) else f"refused: {expected.reason}")
    if isinstance(result, LogRecord):
        assert found is None
        assert isinstance(expected, Accepted), expected
    else:
        assert result == found
        assert isinstance(expected, Refused) and result.reason == expected.reason, (result, expected)


@st.composite
def email_and_expected(draw: st.DrawFn) -> tuple[str, str]:
    local, domain = draw(ADDRESS_PART), draw(ADDRESS_PART)
    return draw(WHITESPACE) + local + "@" + domain + draw(WHITESPACE), (local + "@" + domain).lower()


@st.composite
def timestamp_and_expected(draw: st.DrawFn) -> tuple[Any, int]:
    """occurred_at in one of the accepted forms, and the epoch ms it stands for (computed with datetime)."""
    instant = draw(
        st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2299, 12, 31, 23, 59, 59, 999999))
    ).replace(tzinfo=UTC)
    whole_ms = (instant.replace(microsecond=0) - EPOCH) // timedelta(milliseconds=1)
    if draw(st.booleans()):
        ms = whole_ms + instant.microsecond // 1000
        return ms, ms
    offset = draw(st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59))
    local = instant + timedelta(minutes=offset)
    digits = f"{instant.microsecond:06d}" + draw(st.text(st.sampled_from("0123456789"), max_size=4))
    n_digits = draw(st.integers(min_value=0, max_value=len(digits)))
    fraction = "." + digits[:n_digits] if n_digits else ""
    if offset == 0 and draw(st.booleans()):
        zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
    else:
        sign = "+" if offset >= 0 else "-"
        zone = f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    separator = draw(st.sampled_from("Tt "))
    text = f"{local:%Y-%m-%d}{separator}{local:%H:%M:%S}{fraction}{zone}"
    truncated = int((digits[:n_digits] + "000")[:3])
    return text, whole_ms + truncated


@st.composite
def valid_events(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(action_type, event, the LogRecord fields expected) for a valid event."""
    action_type = draw(st.sampled_from(TYPES))
    source = draw(st.sampled_from(SOURCES_BY_TYPE[action_type]))
    spelled = "".join(
        draw(st.sampled_from([c.lower(), c.upper()])) if c != "_" else draw(st.sampled_from("_-")) for c in source
    )
    occurred, ms = draw(timestamp_and_expected())
    email, expected_email = draw(email_and_expected())
    ids = st.text(NO_SURROGATES, min_size=1, max_size=40)
    event: dict[str, Any] = {
        "event_id": draw(st.text(NO_SURROGATES, min_size=1, max_size=128)),
        "occurred_at": occurred,
        "source": spelled,
        "learner": {"id": draw(ids), "email": email},
        "content": {"id": draw(ids), "type": draw(TEXT), "title": draw(st.text(NO_SURROGATES, max_size=200))},
    }
    expected = {
        "event_id": event["event_id"],
        "occurred_at": ms,
        "action_type": action_type,
        "source": source,
        "learner_id": event["learner"]["id"],
        "email": expected_email,
        "panorama_id": "",
        "panorama_name": "",
        "content_id": event["content"]["id"],
        "content_type": event["content"]["type"].lower(),
        "content_title": event["content"]["title"],
        "course_group_id": "",
        "actor_id": "",
        "actor_email": "",
        "kafka_topic": "lms.enrollments",
        "kafka_partition": 1,
        "kafka_offset": 9,
    }
    group = draw(st.none() | TEXT | st.just("absent"))
    if group != "absent":
        event["content"]["course_group_id"] = group
        expected["course_group_id"] = group or ""
    panorama = draw(st.sampled_from(["absent", "null", "object"]))
    if panorama == "null":
        event["panorama"] = None
    elif panorama == "object":
        event["panorama"] = {}
        for key in ("id", "name"):
            value = draw(st.none() | TEXT | st.just("absent"))
            if value != "absent":
                event["panorama"][key] = value
                expected[f"panorama_{key}"] = value or ""
    actor = draw(st.sampled_from(["absent", "null", "object"]))
    if actor == "null":
        event["actor"] = None
    elif actor == "object":
        event["actor"] = {"id": draw(TEXT)}
        expected["actor_id"] = event["actor"]["id"]
        if draw(st.booleans()):
            event["actor"]["email"], expected["actor_email"] = draw(email_and_expected())
    if draw(st.booleans()):
        event["unknown_field"] = draw(json_values)
    return action_type, event, expected


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.none())
def test_arbitrary_bytes_never_raise(value: bytes | None) -> None:
    check_outcome(call(value))


@given(json_values)
def test_arbitrary_json_never_raises(value: Any) -> None:
    result = call(orjson.dumps(value))
    check_outcome(result)
    if not isinstance(value, dict):
        assert isinstance(result, Rejection)
        assert result.reason == MALFORMED_JSON


@given(st.dictionaries(st.sampled_from([p[0] for p in KNOWN_PATHS]) | TEXT, json_values, max_size=8))
def test_arbitrary_objects_never_raise_and_paths_agree(obj: dict[str, Any]) -> None:
    check_paths_agree(obj, "enrollment")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    valid_events(),
    st.lists(st.tuples(st.sampled_from(KNOWN_PATHS), json_values | st.just("<delete>")), max_size=3),
)
def test_mutated_valid_events_never_raise_and_paths_agree(
    generated: tuple[str, dict[str, Any], dict[str, Any]], mutations: list[tuple[tuple[str, ...], Any]]
) -> None:
    action_type, event, _ = generated
    for path, value in mutations:
        target: Any = event
        for key in path[:-1]:
            target = target.get(key) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        if value == "<delete>":
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
    check_paths_agree(event, action_type)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(valid_events())
def test_valid_events_normalize_and_round_trip(generated: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
    action_type, event, expected = generated
    record = call(orjson.dumps(event), action_type)
    assert isinstance(record, LogRecord), record
    assert dataclasses.asdict(record) == expected
    assert record == LogRecord(**expected)
    assert CODEC.decode(CODEC.encode(record)) == expected
