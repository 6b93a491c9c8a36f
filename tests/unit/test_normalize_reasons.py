"""The dead-letter reasons word for word (docs/input.md, "Dead letters"): input -> reason and detail.

Every refusal of a JSON object carries the reason of the slow path `diagnose`: each row is checked
through `normalize` and through `diagnose`, which must give the same `Rejection`. The values a
detail echoes (`occurred_at`, `source`, and the Type) are shortened: cut to 64, 80 and 40
characters, the cut marked by "…", so a detail stays far below the 1,000-byte header limit."""

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
    Rejection,
)
from actionlog.processor import normalize as normalize_module
from actionlog.processor.normalize import diagnose, normalize
from testkit.events import DELETE, with_paths

RANGE = "1970-01-01 .. 2299-12-31 UTC"
NOT_A_TIMESTAMP = "occurred_at must be RFC 3339 text or an integer of epoch milliseconds, not"


def event(changes: dict[str, Any]) -> dict[str, Any]:
    """A valid event with dotted paths set to values (DELETE removes the key)."""
    base = {
        "event_id": "e-1",
        "occurred_at": "2026-11-03T14:05:06.123+01:00",
        "source": "sso",
        "learner": {"id": "u-1", "email": "ada@example.com"},
        "content": {"id": "c-1", "type": "course", "title": "t"},
    }
    return with_paths(base, changes)


def refuse(value: bytes | None) -> Rejection:
    result = normalize(value, "enrollment", topic="t", partition=0, offset=0)
    assert isinstance(result, Rejection), result
    return result


def refusal(obj: dict[str, Any], action_type: str = "enrollment") -> Rejection:
    """The refusal of ``obj``, the same from `normalize` (fast path first) and from `diagnose`."""
    result = normalize(orjson.dumps(obj), action_type, topic="t", partition=0, offset=0)
    assert isinstance(result, Rejection), result
    assert result == diagnose(obj, action_type)
    return result


# One string of 4,097 characters (event_id: 129) in an otherwise valid event, so only the length
# rule fails; the two emails are well-formed addresses.
LONGER = "is longer than 4096 characters"
TOO_LONG: list[tuple[str, dict[str, Any], str]] = [
    ("event_id", {"event_id": "e" * 129}, "field 'event_id' is longer than 128 characters"),
    ("learner.id", {"learner.id": "u" * 4097}, f"field 'learner.id' {LONGER}"),
    ("learner.email", {"learner.email": "a" * 4091 + "@b.com"}, f"field 'learner.email' {LONGER}"),
    ("panorama.id", {"panorama": {"id": "p" * 4097}}, f"field 'panorama.id' {LONGER}"),
    ("panorama.name", {"panorama": {"name": "n" * 4097}}, f"field 'panorama.name' {LONGER}"),
    ("content.id", {"content.id": "c" * 4097}, f"field 'content.id' {LONGER}"),
    ("content.type", {"content.type": "t" * 4097}, f"field 'content.type' {LONGER}"),
    ("content.title", {"content.title": "t" * 4097}, f"field 'content.title' {LONGER}"),
    ("content.course_group_id", {"content.course_group_id": "g" * 4097}, f"field 'content.course_group_id' {LONGER}"),
    ("actor.id", {"actor": {"id": "m" * 4097}}, f"field 'actor.id' {LONGER}"),
    ("actor.email", {"actor": {"email": "m" * 4091 + "@b.com"}}, f"field 'actor.email' {LONGER}"),
]  # fmt: skip

MISSING: list[tuple[str, dict[str, Any], str]] = [
    ("absent", {"learner.id": DELETE}, "required field 'learner.id' is absent"),
    ("null", {"learner.id": None}, "required field 'learner.id' is null"),
    ("top-level absent", {"event_id": DELETE}, "required field 'event_id' is absent"),
    ("top-level null", {"occurred_at": None}, "required field 'occurred_at' is null"),
]

NO_INSTANT = f"is no valid date, time and offset in {RANGE}"
NO_OFFSET = "has no UTC offset"
NOT_RFC3339 = "is not RFC 3339 with a UTC offset"
TIMESTAMPS: list[tuple[str, Any, str]] = [
    # RFC 3339 with an offset in shape, but no such instant in the range.
    ("impossible date", "2026-02-30T10:00:00Z", f"occurred_at '2026-02-30T10:00:00Z' {NO_INSTANT}"),
    ("second 60", "2026-11-03T23:59:60Z", f"occurred_at '2026-11-03T23:59:60Z' {NO_INSTANT}"),
    ("before 1970", "1969-12-31T23:59:59.999Z", f"occurred_at '1969-12-31T23:59:59.999Z' {NO_INSTANT}"),
    ("after 2299 by offset", "2299-12-31T23:30:00-01:00", f"occurred_at '2299-12-31T23:30:00-01:00' {NO_INSTANT}"),
    # Text without an offset is refused as such.
    ("no offset", "2026-11-03T14:05:06.123", f"occurred_at '2026-11-03T14:05:06.123' {NO_OFFSET}"),
    ("no seconds, no offset", "2026-11-03T14:05", f"occurred_at '2026-11-03T14:05' {NO_OFFSET}"),
    ("bare date", "2026-11-03", f"occurred_at '2026-11-03' {NO_OFFSET}"),
    # Anything else is not RFC 3339.
    ("offset without colon", "2026-11-03T14:05:06+0100", f"occurred_at '2026-11-03T14:05:06+0100' {NOT_RFC3339}"),
    ("hour-only offset", "2026-11-03T14:05:06+01", f"occurred_at '2026-11-03T14:05:06+01' {NOT_RFC3339}"),
    ("empty", "", f"occurred_at '' {NOT_RFC3339}"),
    ("digits as text", "1762175106123", f"occurred_at '1762175106123' {NOT_RFC3339}"),
    # Shortened to 64 characters: 63 and "…".
    ("64 characters, whole", "x" * 64, f"occurred_at '{'x' * 64}' {NOT_RFC3339}"),
    ("65 characters, cut", "x" * 65, f"occurred_at '{'x' * 63}…' {NOT_RFC3339}"),
    ("long, cut", "2026-11-03T14:05:06." + "1" * 100, f"occurred_at '2026-11-03T14:05:06.{'1' * 43}…' {NO_OFFSET}"),
    # Integers of epoch milliseconds outside the range.
    ("-1 ms", -1, f"occurred_at -1 epoch ms is outside {RANGE}"),
    ("one ms after 2299", 10_413_792_000_000, f"occurred_at 10413792000000 epoch ms is outside {RANGE}"),
    # Any other JSON type, named.
    ("boolean", True, f"{NOT_A_TIMESTAMP} a boolean"),
    ("float", 1.7e12, f"{NOT_A_TIMESTAMP} a floating-point number"),
    ("array", ["2026-11-03T14:05:06Z"], f"{NOT_A_TIMESTAMP} an array"),
    ("object", {"ms": 0}, f"{NOT_A_TIMESTAMP} an object"),
]  # fmt: skip

NOT_OF = "is not a Source of Type"
SOURCES: list[tuple[str, str, str, str]] = [
    ("not in the catalog", "enrollment", "carrier_pigeon", f"source 'carrier_pigeon' {NOT_OF} 'enrollment'"),
    ("of another Type", "enrollment", "passed_exam", f"source 'passed_exam' {NOT_OF} 'enrollment'"),
    ("unknown Type", "bogus_type", "sso", f"source 'sso' {NOT_OF} 'bogus_type'"),
    # Shortened to 80 characters: 79 and "…".
    ("80 characters, whole", "enrollment", "s" * 80, f"source '{'s' * 80}' {NOT_OF} 'enrollment'"),
    ("81 characters, cut", "enrollment", "s" * 81, f"source '{'s' * 79}…' {NOT_OF} 'enrollment'"),
    # The Type (the caller's, normally one of four short names) is shortened to 40.
    ("Type of 40, whole", "t" * 40, "sso", f"source 'sso' {NOT_OF} '{'t' * 40}'"),
    ("Type of 41, cut", "t" * 41, "sso", f"source 'sso' {NOT_OF} '{'t' * 39}…'"),
]  # fmt: skip


def test_an_absent_or_empty_value_is_malformed_json() -> None:
    assert refuse(None) == Rejection(MALFORMED_JSON, "message has no value")
    assert refuse(b"") == Rejection(MALFORMED_JSON, "empty message")


@pytest.mark.parametrize(
    "value", [b"{", b'{"a": NaN}', b'{"event_id": "caf\xc3"}'], ids=["truncated", "NaN", "invalid UTF-8"]
)
def test_malformed_json_detail_quotes_the_parser(value: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError) as parsed:
        orjson.loads(value)
    assert refuse(value) == Rejection(MALFORMED_JSON, f"not valid UTF-8 JSON: {parsed.value}")


@pytest.mark.parametrize(("changes", "detail"), [c[1:] for c in TOO_LONG], ids=[c[0] for c in TOO_LONG])
def test_every_string_has_its_length_limit(changes: dict[str, Any], detail: str) -> None:
    """The fast path skips the length checks for a message of at most 4,096 bytes; past that, every
    string field is measured."""
    assert refusal(event(changes)) == Rejection(INVALID_FIELD, detail)


@pytest.mark.parametrize(("changes", "detail"), [c[1:] for c in MISSING], ids=[c[0] for c in MISSING])
def test_missing_field_says_absent_or_null(changes: dict[str, Any], detail: str) -> None:
    assert refusal(event(changes)) == Rejection(MISSING_FIELD, detail)


@pytest.mark.parametrize(("value", "detail"), [c[1:] for c in TIMESTAMPS], ids=[c[0] for c in TIMESTAMPS])
def test_invalid_timestamp_detail(value: Any, detail: str) -> None:
    assert refusal(event({"occurred_at": value})) == Rejection(INVALID_TIMESTAMP, detail)


@pytest.mark.parametrize(("action_type", "source", "detail"), [c[1:] for c in SOURCES], ids=[c[0] for c in SOURCES])
def test_unknown_source_detail(action_type: str, source: str, detail: str) -> None:
    assert refusal(event({"source": source}), action_type) == Rejection(UNKNOWN_SOURCE, detail)


def test_a_refusal_the_slow_path_cannot_explain_is_still_a_dead_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    """No input gets here: the fast path refuses only what `diagnose` refuses (the property tests and
    every row above check that the two agree). Were they ever to disagree, `normalize` must still
    return a `Rejection` with a contract code and a detail, never None."""
    monkeypatch.setattr(normalize_module, "diagnose", lambda obj, action_type: None)
    result = refuse(orjson.dumps(event({"source": "carrier_pigeon"})))
    assert result.reason in REASONS
    assert isinstance(result.detail, str)
    assert 0 < len(result.detail.encode("utf-8")) <= 1000
