"""Property: `parse_occurred_at` (and so `normalize`) agrees with a datetime reference on
RFC 3339 text that is mostly valid, and on the near misses around it."""

from __future__ import annotations

from collections import Counter

import orjson
from hypothesis import Phase, event, given, settings
from hypothesis import strategies as st

from actionlog.core.record import LogRecord, Rejection
from actionlog.processor.normalize import normalize
from actionlog.processor.timestamps import (
    MAX_OCCURRED_AT_MS,
    MIN_OCCURRED_AT_MS,
    _parse_occurred_at_uncached,
    parse_occurred_at,
)
from testkit.contract import reference_ms

DIGITS = st.text(st.sampled_from("0123456789"), min_size=1, max_size=12)
ANY_SHAPE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})"


@st.composite
def rfc3339_texts(draw: st.DrawFn) -> str:
    """RFC 3339 text, valid about two times out of three. Otherwise a year at an end of the range
    (an offset may carry it across), a day past the 28th (a month may not have it), one part off
    (a field out of range, a leap second, a malformed or missing offset), arbitrary digits in the
    right shape, or arbitrary text of its alphabet. Hypothesis favours small numbers: kind 0 is
    the plain valid case."""
    kind = draw(st.integers(0, 11))
    if kind == 10:
        return draw(st.from_regex(ANY_SHAPE, fullmatch=True))
    if kind == 11:
        return draw(st.from_regex(r"[0-9T:+\-. Zz]{0,30}", fullmatch=True))
    # One year in five at an end of the range (an offset may carry it across), one day in four
    # past the 28th (a month may not have it).
    year = draw(st.sampled_from([1969, 1970, 2299, 2300]) if kind == 7 else st.integers(1970, 2299))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(29, 31) if kind == 8 else st.integers(1, 28))
    hour, minute, second = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    fraction = draw(st.none() | DIGITS)
    separator = draw(st.sampled_from("Tt "))
    offset_minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    sign = "-" if offset_minutes < 0 or (offset_minutes == 0 and draw(st.booleans())) else "+"
    zone = f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    if draw(st.booleans()):
        zone = draw(st.sampled_from(["Z", "z"]))
    if kind == 9:  # one part off
        broken = draw(st.sampled_from(["month", "day", "hour", "minute", "second", "offset", "zone"]))
        if broken == "month":
            month = draw(st.sampled_from([0, 13, 99]))
        elif broken == "day":
            day = draw(st.sampled_from([0, 32, 99]))
        elif broken == "hour":
            hour = draw(st.sampled_from([24, 99]))
        elif broken == "minute":
            minute = draw(st.sampled_from([60, 99]))
        elif broken == "second":
            second = 60
        elif broken == "offset":
            zone = draw(st.sampled_from(["+24:00", "-01:60", "+0100", "+01", "+1:00", "UTC", ""]))
        else:
            zone = ""
    text = f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
    return text + ("" if fraction is None else "." + fraction) + zone


def event_with(text: str) -> bytes:
    return orjson.dumps(
        {
            "event_id": "e",
            "occurred_at": text,
            "source": "sso",
            "learner": {"id": "u", "email": "a@b"},
            "content": {"id": "c", "type": "course", "title": "t"},
        }
    )


@settings(max_examples=600)
@given(rfc3339_texts())
def test_timestamps_agree_with_a_datetime_reference(text: str) -> None:
    expected = reference_ms(text)
    event("valid" if expected is not None else "refused")
    assert parse_occurred_at(text) == expected
    assert parse_occurred_at(text) == expected  # again: now through the caches of dates and tails
    result = normalize(event_with(text), "enrollment", topic="t", partition=0, offset=0)
    if expected is None:
        assert isinstance(result, Rejection)
        assert result.reason == "invalid_timestamp"
    else:
        assert isinstance(result, LogRecord), result
        assert result.occurred_at == expected


def test_most_generated_timestamps_are_valid() -> None:
    """The property above is about valid text first: at least half of what it draws is valid."""
    seen: Counter[bool] = Counter()

    @settings(max_examples=200, derandomize=True, database=None, phases=[Phase.generate])
    @given(rfc3339_texts())
    def draw(text: str) -> None:
        seen[reference_ms(text) is not None] += 1

    draw()
    assert sum(seen.values()) >= 150
    assert seen[True] >= sum(seen.values()) / 2, seen
    assert seen[False] >= sum(seen.values()) / 10, seen  # and the near misses are there too


def test_both_paths_take_the_bounds_and_refuse_past_them() -> None:
    """The slow path (text not cached yet) and the fast one (date and tail cached) agree at the
    edges of the accepted span, whatever an earlier test left in the caches."""
    cases = [
        ("1970-01-01T00:00:00.000Z", MIN_OCCURRED_AT_MS),
        ("2299-12-31T23:59:59.999Z", MAX_OCCURRED_AT_MS),
        ("1969-12-31T23:59:59.999Z", None),
        ("2300-01-01T00:00:00.000Z", None),
    ]
    for text, want in cases:
        assert _parse_occurred_at_uncached(text) == want, text
        assert parse_occurred_at(text) == want, text  # now from the caches where it was valid
        assert parse_occurred_at(text) == want, text
