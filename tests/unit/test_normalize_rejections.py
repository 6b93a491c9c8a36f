"""Refused events: every rule of docs/input.md ("Dead letters") and the precedence of reasons."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from actionlog.core.record import (
    INVALID_FIELD,
    INVALID_TIMESTAMP,
    MALFORMED_JSON,
    MISSING_FIELD,
    REASONS,
    UNKNOWN_SOURCE,
    LogRecord,
    Rejection,
)
from actionlog.processor.normalize import normalize
from testkit.events import DELETE, with_paths


def base_event() -> dict[str, Any]:
    return {
        "event_id": "e-1",
        "occurred_at": "2026-11-03T14:05:06.123+01:00",
        "source": "course_purchase",
        "learner": {"id": "u-1", "email": "ada@example.com"},
        "panorama": {"id": "p-7", "name": "Acme Academy"},
        "content": {"id": "c-42", "type": "course", "title": "Intro", "course_group_id": "g-9"},
        "actor": {"id": "m-3", "email": "manager@example.com"},
    }


def event_with(changes: dict[str, Any]) -> bytes:
    """The base event with dotted paths set to values (DELETE removes the key), as JSON bytes."""
    return orjson.dumps(with_paths(base_event(), changes))


def refuse(value: bytes | None, action_type: str = "enrollment") -> Rejection:
    result = normalize(value, action_type, topic="lms.enrollments", partition=0, offset=5)
    assert isinstance(result, Rejection), result
    return result


def test_reasons_are_the_contract_codes_in_precedence_order() -> None:
    assert REASONS == ("malformed_json", "missing_field", "invalid_timestamp", "invalid_field", "unknown_source")
    assert (MALFORMED_JSON, MISSING_FIELD, INVALID_TIMESTAMP, INVALID_FIELD, UNKNOWN_SOURCE) == REASONS


def test_base_event_is_valid() -> None:
    assert isinstance(normalize(event_with({}), "enrollment", topic="t", partition=0, offset=0), LogRecord)


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"   ",
        b"null",
        b"[]",
        b'[{"event_id": "e"}]',
        b"1",
        b"1762175106123",
        b'"text"',
        b"true",
        b"{",
        b'{"event_id": "e"',
        b"{} trailing",
        b"{'single': 'quotes'}",
        b'{"a": NaN}',
        b'{"a": 1e400}',
        b"\xef\xbb\xbf{}",  # BOM
        b'{"event_id": "\xff\xfe"}',  # invalid UTF-8
        b'{"event_id": "caf\xc3"}',  # truncated UTF-8 sequence
        b'{"event_id": "\\ud800"}',  # lone surrogate
        b"[" * 5000 + b"]" * 5000,
        "{}".encode("utf-16"),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_malformed_json(value: bytes | None) -> None:
    rejection = refuse(value)
    assert rejection.reason == MALFORMED_JSON
    assert rejection.detail


# (changes, reason, field named in the detail)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # missing_field: absent or null
    ("event_id absent", {"event_id": DELETE}, MISSING_FIELD, "event_id"),
    ("event_id null", {"event_id": None}, MISSING_FIELD, "event_id"),
    ("occurred_at absent", {"occurred_at": DELETE}, MISSING_FIELD, "occurred_at"),
    ("occurred_at null", {"occurred_at": None}, MISSING_FIELD, "occurred_at"),
    ("source absent", {"source": DELETE}, MISSING_FIELD, "source"),
    ("source null", {"source": None}, MISSING_FIELD, "source"),
    ("learner absent", {"learner": DELETE}, MISSING_FIELD, "learner"),
    ("learner null", {"learner": None}, MISSING_FIELD, "learner"),
    ("learner.id absent", {"learner.id": DELETE}, MISSING_FIELD, "learner.id"),
    ("learner.id null", {"learner.id": None}, MISSING_FIELD, "learner.id"),
    ("learner.email absent", {"learner.email": DELETE}, MISSING_FIELD, "learner.email"),
    ("learner.email null", {"learner.email": None}, MISSING_FIELD, "learner.email"),
    ("content absent", {"content": DELETE}, MISSING_FIELD, "content"),
    ("content null", {"content": None}, MISSING_FIELD, "content"),
    ("content.id absent", {"content.id": DELETE}, MISSING_FIELD, "content.id"),
    ("content.type null", {"content.type": None}, MISSING_FIELD, "content.type"),
    ("content.title absent", {"content.title": DELETE}, MISSING_FIELD, "content.title"),
    ("learner empty object", {"learner": {}}, MISSING_FIELD, "learner.id"),
    # invalid_timestamp
    ("no offset", {"occurred_at": "2026-11-03T14:05:06"}, INVALID_TIMESTAMP, "occurred_at"),
    ("no offset, fraction", {"occurred_at": "2026-11-03T14:05:06.123"}, INVALID_TIMESTAMP, "occurred_at"),
    ("date only", {"occurred_at": "2026-11-03"}, INVALID_TIMESTAMP, "occurred_at"),
    ("offset without colon", {"occurred_at": "2026-11-03T14:05:06+0100"}, INVALID_TIMESTAMP, "occurred_at"),
    ("offset hours only", {"occurred_at": "2026-11-03T14:05:06+01"}, INVALID_TIMESTAMP, "occurred_at"),
    ("no seconds", {"occurred_at": "2026-11-03T14:05Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("empty fraction", {"occurred_at": "2026-11-03T14:05:06.Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("comma fraction", {"occurred_at": "2026-11-03T14:05:06,123Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("basic format", {"occurred_at": "20261103T140506Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("other separator", {"occurred_at": "2026-11-03_14:05:06Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("month 13", {"occurred_at": "2026-13-01T00:00:00Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("month 0", {"occurred_at": "2026-00-01T00:00:00Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("day 0", {"occurred_at": "2026-01-00T00:00:00Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("Feb 30", {"occurred_at": "2026-02-30T00:00:00Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("Feb 30 leap year", {"occurred_at": "2024-02-30T00:00:00Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("Feb 29 non-leap", {"occurred_at": "2026-02-29T00:00:00Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("Feb 29 1900", {"occurred_at": "2100-02-29T00:00:00Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("Apr 31", {"occurred_at": "2026-04-31T00:00:00Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("hour 24", {"occurred_at": "2026-11-03T24:00:00Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("minute 60", {"occurred_at": "2026-11-03T23:60:00Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("leap second", {"occurred_at": "2016-12-31T23:59:60Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("offset hour 24", {"occurred_at": "2026-11-03T14:05:06+24:00"}, INVALID_TIMESTAMP, "occurred_at"),
    ("offset minute 60", {"occurred_at": "2026-11-03T14:05:06+01:60"}, INVALID_TIMESTAMP, "occurred_at"),
    ("fullwidth digits", {"occurred_at": "２０２６-11-03T14:05:06Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("arabic-indic digits", {"occurred_at": "2026-11-03T14:05:0٦Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("trailing newline", {"occurred_at": "2026-11-03T14:05:06Z\n"}, INVALID_TIMESTAMP, "occurred_at"),
    ("leading space", {"occurred_at": " 2026-11-03T14:05:06Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("named zone", {"occurred_at": "2026-11-03T14:05:06 UTC"}, INVALID_TIMESTAMP, "occurred_at"),
    ("before 1970", {"occurred_at": "1969-12-31T23:59:59.999Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("before 1970 by offset", {"occurred_at": "1970-01-01T00:30:00+01:00"}, INVALID_TIMESTAMP, "occurred_at"),
    ("after 2299", {"occurred_at": "2300-01-01T00:00:00Z"}, INVALID_TIMESTAMP, "occurred_at"),
    ("after 2299 by offset", {"occurred_at": "2299-12-31T23:30:00-01:00"}, INVALID_TIMESTAMP, "occurred_at"),
    ("empty string", {"occurred_at": ""}, INVALID_TIMESTAMP, "occurred_at"),
    ("digits as text", {"occurred_at": "1762175106123"}, INVALID_TIMESTAMP, "occurred_at"),
    ("negative ms", {"occurred_at": -1}, INVALID_TIMESTAMP, "occurred_at"),
    ("ms after 2299", {"occurred_at": 10_413_792_000_000}, INVALID_TIMESTAMP, "occurred_at"),
    ("float ms", {"occurred_at": 1762175106123.0}, INVALID_TIMESTAMP, "occurred_at"),
    ("fractional ms", {"occurred_at": 1762175106123.5}, INVALID_TIMESTAMP, "occurred_at"),
    ("true", {"occurred_at": True}, INVALID_TIMESTAMP, "occurred_at"),
    ("false", {"occurred_at": False}, INVALID_TIMESTAMP, "occurred_at"),
    ("object", {"occurred_at": {"ms": 1}}, INVALID_TIMESTAMP, "occurred_at"),
    ("array", {"occurred_at": [2026, 11, 3]}, INVALID_TIMESTAMP, "occurred_at"),
    # invalid_field
    ("event_id number", {"event_id": 17}, INVALID_FIELD, "event_id"),
    ("event_id empty", {"event_id": ""}, INVALID_FIELD, "event_id"),
    ("event_id 129", {"event_id": "e" * 129}, INVALID_FIELD, "event_id"),
    ("event_id object", {"event_id": {"id": "e"}}, INVALID_FIELD, "event_id"),
    ("source number", {"source": 3}, INVALID_FIELD, "source"),
    ("source empty", {"source": ""}, INVALID_FIELD, "source"),
    ("source array", {"source": ["sso"]}, INVALID_FIELD, "source"),
    ("source too long", {"source": "s" * 4097}, INVALID_FIELD, "source"),
    ("learner string", {"learner": "u-1"}, INVALID_FIELD, "learner"),
    ("learner array", {"learner": [{"id": "u"}]}, INVALID_FIELD, "learner"),
    ("learner.id number", {"learner.id": 1029}, INVALID_FIELD, "learner.id"),
    ("learner.id empty", {"learner.id": ""}, INVALID_FIELD, "learner.id"),
    ("learner.id too long", {"learner.id": "u" * 4097}, INVALID_FIELD, "learner.id"),
    ("email number", {"learner.email": 5}, INVALID_FIELD, "learner.email"),
    ("email empty", {"learner.email": ""}, INVALID_FIELD, "learner.email"),
    ("email blank", {"learner.email": "   "}, INVALID_FIELD, "learner.email"),
    ("email no at", {"learner.email": "ada.example.com"}, INVALID_FIELD, "learner.email"),
    ("email two ats", {"learner.email": "ada@b@example.com"}, INVALID_FIELD, "learner.email"),
    ("email no local", {"learner.email": "@example.com"}, INVALID_FIELD, "learner.email"),
    ("email no domain", {"learner.email": "ada@"}, INVALID_FIELD, "learner.email"),
    ("email inner space", {"learner.email": "ada lovelace@example.com"}, INVALID_FIELD, "learner.email"),
    ("email inner nbsp", {"learner.email": "ada@exa\u00a0mple.com"}, INVALID_FIELD, "learner.email"),
    ("email control char", {"learner.email": "ada@exa\x00mple.com"}, INVALID_FIELD, "learner.email"),
    ("email C1 control char", {"learner.email": "ada@exa\x9fmple.com"}, INVALID_FIELD, "learner.email"),
    ("email too long", {"learner.email": "a" * 4091 + "@b.com"}, INVALID_FIELD, "learner.email"),
    ("panorama string", {"panorama": "Acme"}, INVALID_FIELD, "panorama"),
    ("panorama array", {"panorama": []}, INVALID_FIELD, "panorama"),
    ("panorama false", {"panorama": False}, INVALID_FIELD, "panorama"),
    ("panorama.id number", {"panorama.id": 7}, INVALID_FIELD, "panorama.id"),
    ("panorama.name object", {"panorama.name": {}}, INVALID_FIELD, "panorama.name"),
    ("panorama.name too long", {"panorama.name": "n" * 4097}, INVALID_FIELD, "panorama.name"),
    ("content string", {"content": "c-42"}, INVALID_FIELD, "content"),
    ("content.id number", {"content.id": 42}, INVALID_FIELD, "content.id"),
    ("content.id empty", {"content.id": ""}, INVALID_FIELD, "content.id"),
    ("content.type number", {"content.type": 1}, INVALID_FIELD, "content.type"),
    ("content.title array", {"content.title": ["Intro"]}, INVALID_FIELD, "content.title"),
    ("content.title too long", {"content.title": "t" * 4097}, INVALID_FIELD, "content.title"),
    ("title too long, multibyte", {"content.title": "é" * 4097}, INVALID_FIELD, "content.title"),
    ("course_group_id number", {"content.course_group_id": 9}, INVALID_FIELD, "content.course_group_id"),
    ("actor string", {"actor": "m-3"}, INVALID_FIELD, "actor"),
    ("actor.id number", {"actor.id": 3}, INVALID_FIELD, "actor.id"),
    ("actor.email number", {"actor.email": 3}, INVALID_FIELD, "actor.email"),
    ("actor.email malformed", {"actor.email": "manager at example.com"}, INVALID_FIELD, "actor.email"),
    ("actor.email too long", {"actor.email": "m" * 4097}, INVALID_FIELD, "actor.email"),
    # unknown_source
    ("source not in catalog", {"source": "carrier_pigeon"}, UNKNOWN_SOURCE, "carrier_pigeon"),
    ("source of another type", {"source": "passed_exam"}, UNKNOWN_SOURCE, "passed_exam"),
    ("source with space", {"source": " course_purchase"}, UNKNOWN_SOURCE, "source"),
    ("source with inner space", {"source": "course purchase"}, UNKNOWN_SOURCE, "source"),
    ("source look-alike", {"source": "ſso"}, UNKNOWN_SOURCE, "source"),
]


@pytest.mark.parametrize(("changes", "reason", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(changes: dict[str, Any], reason: str, field: str) -> None:
    rejection = refuse(event_with(changes))
    assert rejection.reason == reason, rejection
    assert field in rejection.detail, rejection


@pytest.mark.parametrize(
    ("action_type", "source"),
    [("certificate_grant", "sso"), ("revoked_access", "course_purchase"), ("bogus_type", "sso")],
)
def test_source_is_checked_against_the_topic_type(action_type: str, source: str) -> None:
    rejection = refuse(event_with({"source": source}), action_type)
    assert rejection.reason == UNKNOWN_SOURCE
    assert source in rejection.detail


MISSING = {"learner.email": DELETE}
BAD_TIME = {"occurred_at": "2026-11-03T14:05:06"}
BAD_FIELD = {"content.id": 42}
UNKNOWN = {"source": "carrier_pigeon"}

PRECEDENCE: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing beats unknown source", {**MISSING, **UNKNOWN}, MISSING_FIELD, "learner.email"),
    ("missing beats bad timestamp", {**MISSING, **BAD_TIME}, MISSING_FIELD, "learner.email"),
    ("missing beats invalid field", {**MISSING, **BAD_FIELD}, MISSING_FIELD, "learner.email"),
    ("missing beats all", {**MISSING, **BAD_TIME, **BAD_FIELD, **UNKNOWN}, MISSING_FIELD, "learner.email"),
    ("bad timestamp beats invalid field", {**BAD_TIME, **BAD_FIELD}, INVALID_TIMESTAMP, "occurred_at"),
    ("bad timestamp beats unknown source", {**BAD_TIME, **UNKNOWN}, INVALID_TIMESTAMP, "occurred_at"),
    ("bad timestamp beats both", {**BAD_TIME, **BAD_FIELD, **UNKNOWN}, INVALID_TIMESTAMP, "occurred_at"),
    ("invalid field beats unknown source", {**BAD_FIELD, **UNKNOWN}, INVALID_FIELD, "content.id"),
    # A later field missing wins over an earlier field of the wrong type.
    ("missing content.title beats bad event_id", {"event_id": 5, "content.title": None}, MISSING_FIELD,
     "content.title"),
    ("missing content.id beats learner string", {"learner": "u", "content.id": DELETE}, MISSING_FIELD,
     "content.id"),
    # A parent of the wrong type hides its children: that is invalid_field on the parent.
    ("learner string has no missing children", {"learner": "u-1", **UNKNOWN}, INVALID_FIELD, "learner"),
    ("wrong-typed timestamp is a timestamp problem", {"occurred_at": True, "event_id": 5}, INVALID_TIMESTAMP,
     "occurred_at"),
    ("empty source is invalid, not unknown", {"source": "", "content.id": ""}, INVALID_FIELD, "source"),
    ("fields are reported in document order", {"actor.id": 1, "event_id": ""}, INVALID_FIELD, "event_id"),
    ("panorama before content", {"content.type": 1, "panorama.id": 1}, INVALID_FIELD, "panorama.id"),
    ("bad actor email after bad title", {"actor.email": "x", "content.title": 1}, INVALID_FIELD,
     "content.title"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "reason", "field"), [c[1:] for c in PRECEDENCE], ids=[c[0] for c in PRECEDENCE])
def test_precedence(changes: dict[str, Any], reason: str, field: str) -> None:
    rejection = refuse(event_with(changes))
    assert rejection.reason == reason, rejection
    assert field in rejection.detail, rejection


@pytest.mark.parametrize("number", [b"18446744073709551616", b"-9223372036854775809", b"1e3", b"-0.0"])
def test_numbers_orjson_reads_as_floats_are_invalid_timestamps(number: bytes) -> None:
    value = event_with({"occurred_at": 0}).replace(b'"occurred_at":0', b'"occurred_at":' + number)
    assert number in value
    rejection = refuse(value)
    assert rejection.reason == INVALID_TIMESTAMP
    assert "occurred_at" in rejection.detail


def test_missing_detail_says_absent_or_null() -> None:
    assert "absent" in refuse(event_with({"learner.id": DELETE})).detail
    assert "null" in refuse(event_with({"learner.id": None})).detail


def test_no_offset_detail_says_so() -> None:
    assert "offset" in refuse(event_with(BAD_TIME)).detail


def test_email_is_not_echoed_in_details() -> None:
    rejection = refuse(event_with({"learner.email": "secret.person at example.com"}))
    assert "secret.person" not in rejection.detail


def test_long_values_are_shortened_in_details() -> None:
    rejection = refuse(event_with({"source": "x" * 4000}))
    assert rejection.reason == UNKNOWN_SOURCE
    assert len(rejection.detail) < 300


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-03X14:05:06.123Z",
        "2026-11-03T14-05:06.123Z",
        "2026-11-03T14:05-06.123Z",
        "2026-11-03T14:05:0.123Z",
        "2026-11-03T14:05:066.123Z",
        "2026-11-03T24:05:06.123Z",
        "2026-11-03T14:05:06.123Z ",
        "2026-11-03",
        "2026-11-03T",
    ],
)
def test_known_parts_in_a_wrong_layout_are_refused(text: str) -> None:
    """Timestamps are parsed through caches of known parts; a warm cache must not loosen the rules."""
    warm = "2026-11-03T14:05:06.123Z"
    assert isinstance(normalize(event_with({"occurred_at": warm}), "enrollment", topic="t", partition=0, offset=0),
                      LogRecord)  # fmt: skip
    rejection = refuse(event_with({"occurred_at": text}))
    assert rejection.reason == INVALID_TIMESTAMP


def test_impossible_date_stays_refused_when_seen_again() -> None:
    for _ in range(3):
        assert refuse(event_with({"occurred_at": "2026-02-30T10:00:00Z"})).reason == INVALID_TIMESTAMP
