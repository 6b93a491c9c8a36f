"""The detail header of a dead letter, word for word: it names the field by its dotted path and
says what is wrong with it, including the JSON type that was sent instead (docs/input.md)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from actionlog.core.record import LogRecord, Rejection
from actionlog.processor.normalize import normalize


def event(**changes: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "event_id": "e-1",
        "occurred_at": "2026-11-03T14:05:06.123+01:00",
        "source": "sso",
        "learner": {"id": "u-1", "email": "ada@example.com"},
        "content": {"id": "c-1", "type": "course", "title": "t"},
    }
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = e
        for name in parents:
            target = target[name]
        target[key] = value
    return e


def detail(e: dict[str, Any]) -> str:
    result = normalize(orjson.dumps(e), "enrollment", topic="t", partition=0, offset=0)
    assert isinstance(result, Rejection), result
    return f"{result.reason}: {result.detail}"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"learner": []}, "invalid_field: field 'learner' must be an object, not an array"),
        ({"content": "c"}, "invalid_field: field 'content' must be an object, not a string"),
        ({"panorama": 5}, "invalid_field: field 'panorama' must be an object or null, not an integer"),
        ({"actor": True}, "invalid_field: field 'actor' must be an object or null, not a boolean"),
        ({"content__title": 1.5}, "invalid_field: field 'content.title' must be a string, not a floating-point number"),
        ({"panorama": {"name": {}}}, "invalid_field: field 'panorama.name' must be a string, not an object"),
        ({"learner__id": ""}, "invalid_field: field 'learner.id' must not be empty"),
        ({"learner__email": " \t"}, "invalid_field: field 'learner.email' must not be empty"),
        ({"event_id": "e" * 129}, "invalid_field: field 'event_id' is longer than 128 characters"),
        ({"content__type": "t" * 4097}, "invalid_field: field 'content.type' is longer than 4096 characters"),
        (
            {"learner__email": "a@b@c"},
            "invalid_field: field 'learner.email' is not an email address "
            "(one '@', non-empty local part and domain, no spaces)",
        ),
        ({"learner__id": None}, "missing_field: required field 'learner.id' is null"),
    ],
)
def test_detail_names_the_field_and_the_problem(changes: dict[str, Any], expected: str) -> None:
    assert detail(event(**changes)) == expected


def test_the_limits_are_inclusive() -> None:
    """128 characters of event_id and 4,096 of any other string are accepted, also on the slow path
    (which runs when another rule fails: the source here)."""
    at_limit = event(event_id="e" * 128, content__title="t" * 4096, learner__id="u" * 4096)
    record = normalize(orjson.dumps(at_limit), "enrollment", topic="t", partition=0, offset=0)
    assert isinstance(record, LogRecord), record
    assert detail({**at_limit, "source": "teleport"}).startswith("unknown_source: ")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (b"null", "null"),
        (b"true", "a boolean"),
        (b"7", "an integer"),
        (b"1.5", "a floating-point number"),
        (b'"text"', "a string"),
        (b"[1]", "an array"),
    ],
)
def test_a_value_that_is_not_an_object_is_named_by_its_json_type(value: bytes, kind: str) -> None:
    result = normalize(value, "enrollment", topic="t", partition=0, offset=0)
    assert result == Rejection("malformed_json", f"expected one JSON object, got {kind}")
