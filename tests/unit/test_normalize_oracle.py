"""Property: `normalize` does what an independent reading of the contract (`testkit.contract`) says,
on events that are mostly valid (so the accepting path runs) and otherwise break one or two rules
with the values the contract names (wrong types, empty, too long, bad emails, bad timestamps,
sources of another Type); its slow path `diagnose` agrees with both."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from actionlog.core.catalog import ALL_SOURCES, SOURCES_BY_TYPE, TYPES
from actionlog.core.record import LogRecord, Rejection
from actionlog.processor.normalize import diagnose, normalize
from testkit.contract import EVENT_PATHS, MAX_MS, Accepted, Refused, expected_outcome

NO_SURROGATES = st.characters(exclude_categories=["Cs"])
TEXT = st.text(NO_SURROGATES, max_size=30)
IDS = st.text(NO_SURROGATES, min_size=1, max_size=30)
# Any character an address may hold: no "@", whitespace (Z*) or control character (Cc).
ADDRESS_PART = st.text(
    st.characters(exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"], exclude_characters="@"), min_size=1, max_size=12
)
PADDING = st.text(st.sampled_from(" \t\n\u00a0\u2003"), max_size=2)
TIMESTAMPS = (
    st.integers(0, MAX_MS)
    | st.sampled_from(["2026-11-03T14:05:06.123+01:00", "2026-11-03t14:05:06Z", "1970-01-01 00:00:00.0001-00:00"])
    | st.datetimes(datetime(1970, 1, 1), datetime(2299, 12, 31, 23, 59, 59)).map(lambda d: d.isoformat() + "Z")
)
LONG = "x" * 4097

# Values the contract has a rule about, for any field.
ODD_VALUES = st.sampled_from(
    [None, "<delete>", "", " ", True, 0, 1.5, [], {}, [1], {"id": "x"}, LONG, "x" * 129, "a@b", "no-at", "a@b@c"]
)
BAD_TIMESTAMPS = st.sampled_from(
    [
        "2026-11-03T14:05:06",
        "2026-11-03T14:05:06+0100",
        "2026-11-03T14:05:06+01",
        "2026-11-03",
        "2026-02-30T00:00:00Z",
        "2026-11-03T23:59:60Z",
        "2300-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999Z",
        "2026-11-03T14:05:06+24:00",
        "２０２６-11-03T14:05:06Z",
        -1,
        MAX_MS + 1,
        1e3,
        1700000000000.0,
        False,
    ]
)
BAD_EMAILS = st.sampled_from(
    ["", "   ", "a b@c", "@b", "a@", "a@@b", "a\x00@b", "a\x7f@b", "a\x85@b", "a\x9f@b", "a\u2028@b", "\u00a0a@b\u00a0"]
)
BAD_SOURCES = st.sampled_from(
    ["", " sso", "sso ", "\u212aiosk", "passed_exam", "enrollment", "SSO", "Gift-Course_Purchase"]
)
PATHS = list(EVENT_PATHS)


def spelled(draw: st.DrawFn, source: str) -> str:
    """A catalog source as upstream teams may spell it (ASCII case, "-" for "_")."""
    return "".join(
        draw(st.sampled_from([c.lower(), c.upper()])) if c != "_" else draw(st.sampled_from("_-")) for c in source
    )


def optional_text(draw: st.DrawFn) -> Any:
    return draw(st.sampled_from(["<absent>", None]) | TEXT)


@st.composite
def valid_events(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(action type, an event the contract accepts)."""
    action_type = draw(st.sampled_from(TYPES))
    event: dict[str, Any] = {
        "event_id": draw(st.text(NO_SURROGATES, min_size=1, max_size=128)),
        "occurred_at": draw(TIMESTAMPS),
        "source": spelled(draw, draw(st.sampled_from(SOURCES_BY_TYPE[action_type]))),
        "learner": {
            "id": draw(IDS),
            "email": draw(PADDING) + "@".join(draw(ADDRESS_PART) for _ in "ab") + draw(PADDING),
        },
        "content": {"id": draw(IDS), "type": draw(TEXT), "title": draw(st.text(NO_SURROGATES, max_size=100))},
    }
    for parent, keys in (("panorama", ("id", "name")), ("content", ("course_group_id",)), ("actor", ("id", "email"))):
        shape = "object" if parent == "content" else draw(st.sampled_from(["absent", "null", "object"]))
        if shape == "null":
            event[parent] = None
        elif shape == "object":
            target = event.setdefault(parent, {})
            for key in keys:
                if key == "email":
                    value = draw(st.sampled_from(["<absent>", None, "", "  "]) | st.just("Boss@Example.COM "))
                else:
                    value = optional_text(draw)
                if value != "<absent>":
                    target[key] = value
    if draw(st.booleans()):
        event["future_field"] = draw(st.none() | TEXT | st.just({"nested": [1, 2]}))
    return action_type, event


def break_one_rule(draw: st.DrawFn, event: dict[str, Any]) -> None:
    path = draw(st.sampled_from(PATHS))
    name = path[-1]
    if name == "occurred_at":
        value = draw(BAD_TIMESTAMPS | ODD_VALUES)
    elif name == "email":
        value = draw(BAD_EMAILS | ODD_VALUES)
    elif name == "source":
        value = draw(BAD_SOURCES | st.sampled_from(ALL_SOURCES) | ODD_VALUES)
    else:
        value = draw(ODD_VALUES)
    target: Any = event
    for key in path[:-1]:
        target = target.get(key) if isinstance(target, dict) else None
    if not isinstance(target, dict):
        return
    if value == "<delete>":
        target.pop(name, None)
    else:
        target[name] = value


@st.composite
def mostly_valid_events(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """Valid about two times out of three; otherwise one rule or two broken."""
    action_type, event = draw(valid_events())
    broken = draw(st.integers(0, 5))  # Hypothesis favours 0: the valid case
    for _ in range({0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 2}[broken]):
        break_one_rule(draw, event)
    if broken == 5 and draw(st.booleans()):
        action_type = draw(st.sampled_from(["", "Enrollment", "unknown"]))
    return action_type, event


def check_against_the_contract(action_type: str, obj: dict[str, Any]) -> Accepted | Refused:
    expected = expected_outcome(obj, action_type)
    result = normalize(orjson.dumps(obj), action_type, topic="lms.x", partition=3, offset=77)
    found = diagnose(obj, action_type)
    if isinstance(expected, Accepted):
        assert isinstance(result, LogRecord), (result, obj)
        assert dataclasses.asdict(result) == {
            **expected.fields,
            "kafka_topic": "lms.x",
            "kafka_partition": 3,
            "kafka_offset": 77,
        }
        assert found is None
    else:
        assert isinstance(result, Rejection), (expected, obj)
        assert result.reason == expected.reason, (result, expected, obj)
        named = {"invalid_timestamp": "occurred_at ", "unknown_source": "source "}.get(expected.reason)
        assert result.detail.startswith(named) if named else f"'{expected.path}'" in result.detail, result
        assert found == result  # the slow path says the same, word for word
    return expected


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(mostly_valid_events())
def test_normalize_does_what_the_contract_says(generated: tuple[str, dict[str, Any]]) -> None:
    expected = check_against_the_contract(*generated)
    event("accepted" if isinstance(expected, Accepted) else f"refused: {expected.reason}")


def test_most_generated_events_are_valid() -> None:
    """The property above reaches the accepting path: at least half of what it draws is valid,
    and every reason shows up among the rest."""
    seen: Counter[str] = Counter()

    @settings(max_examples=400, derandomize=True, database=None, phases=[Phase.generate])
    @given(mostly_valid_events())
    def draw(generated: tuple[str, dict[str, Any]]) -> None:
        expected = expected_outcome(generated[1], generated[0])
        seen["accepted" if isinstance(expected, Accepted) else expected.reason] += 1

    draw()
    total = sum(seen.values())
    assert total >= 300
    assert seen["accepted"] >= total / 2, seen
    assert {"missing_field", "invalid_timestamp", "invalid_field", "unknown_source"} <= set(seen), seen
