"""Edges of the report's range parameters: offsets up to ±23:59, local times with seconds and
milliseconds in --tz, --limit from 1, and the default end one millisecond after now (truncated)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from actionlog.core.errors import BadParameter
from actionlog.query.filters import parse_report_params

NOW = datetime(2026, 11, 30, 12, 0, 0, 500_999, tzinfo=UTC)


def start_of(raw: str, tz: str = "UTC") -> datetime:
    return parse_report_params({"from": [raw], "tz": [tz]}, now=NOW).start


@pytest.mark.parametrize(
    ("raw", "utc"),
    [
        ("2026-11-02T00:00+23:59", datetime(2026, 11, 1, 0, 1, tzinfo=UTC)),
        ("2026-11-01T00:00-23:59", datetime(2026, 11, 1, 23, 59, tzinfo=UTC)),
        ("2026-11-01T10:00:00+00:59", datetime(2026, 11, 1, 9, 1, tzinfo=UTC)),
    ],
)
def test_offsets_up_to_23_59_are_accepted(raw: str, utc: datetime) -> None:
    assert start_of(raw) == utc


@pytest.mark.parametrize("raw", ["2026-11-01T00:00+24:00", "2026-11-01T00:00+00:60", "2026-11-01T00:00-23:60"])
def test_offsets_beyond_are_refused(raw: str) -> None:
    with pytest.raises(BadParameter):
        start_of(raw)


def test_a_local_time_with_seconds_and_milliseconds_in_the_zone() -> None:
    # Paris is at +01:00 in November.
    assert start_of("2026-11-03T14:05:06.123", "Europe/Paris") == datetime(2026, 11, 3, 13, 5, 6, 123_000, tzinfo=UTC)


def test_limit_one_is_the_smallest() -> None:
    assert parse_report_params({"limit": ["1"]}, now=NOW).limit == 1


def test_the_default_range_ends_a_millisecond_after_now() -> None:
    filters = parse_report_params({}, now=NOW)
    assert filters.end == datetime(2026, 11, 30, 12, 0, 0, 501_000, tzinfo=UTC)
    assert filters.start == datetime(2026, 11, 30, 12, 0, 0, 500_000, tzinfo=UTC) - timedelta(days=30)
