"""The download's file name names the first and last calendar day the range touches, in the
report's zone (the last is the day of ``end - 1 ms``: ``end`` is exclusive)."""

from __future__ import annotations

from datetime import UTC, datetime

from actionlog.query.filters import ReportFilters
from actionlog.query.framing import download_filename


def test_days_are_those_of_the_report_zone() -> None:
    # 2026-11-30T23:30Z is already 2026-12-01 in Paris.
    f = ReportFilters(
        start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 30, 23, 30, tzinfo=UTC), tz="Europe/Paris"
    )
    assert download_filename(f) == "content-actions-log_2026-11-01_2026-12-01.csv"


def test_an_end_one_millisecond_past_midnight_includes_that_day() -> None:
    f = ReportFilters(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 30, 0, 0, 0, 1000, tzinfo=UTC))
    assert download_filename(f) == "content-actions-log_2026-11-01_2026-11-30.csv"
