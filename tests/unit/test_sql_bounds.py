"""The report statement's bound parameters: the range as whole Int64 epoch milliseconds, and
landing bounds over the whole Int64 range, nothing beyond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from actionlog.core.scope import Scope
from actionlog.query.filters import ReportFilters
from actionlog.query.sql import build_count_query, build_report_query

EVERYTHING = Scope.everything()
PARIS_WINTER = timezone(timedelta(hours=1))


def filters(start: datetime, end: datetime) -> ReportFilters:
    return ReportFilters(start=start, end=end)


def test_the_range_is_bound_as_integer_milliseconds_of_the_instants() -> None:
    start = datetime(2026, 11, 3, 14, 5, 6, 123_456, tzinfo=PARIS_WINTER)  # 13:05:06.123456Z
    end = datetime(2026, 11, 30, tzinfo=UTC)
    params = build_report_query(filters(start, end), database="db", table="t", scope=EVERYTHING).params
    want_start = (datetime(2026, 11, 3, 13, 5, 6, 123_000, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        milliseconds=1
    )
    assert (params["start_ms"], type(params["start_ms"])) == (want_start, int)
    assert params["end_ms"] == (end - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@pytest.mark.parametrize("ms", [-(2**63), -5000, 0, 2**63 - 1])
def test_landing_bounds_take_any_int64(ms: int) -> None:
    f = filters(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    for build in (build_report_query, build_count_query):
        query = build(f, database="db", table="t", scope=EVERYTHING, ingested_after_ms=ms, ingested_until_ms=ms)
        assert (query.params["ingested_after_ms"], query.params["ingested_until_ms"]) == (ms, ms)


@pytest.mark.parametrize("ms", [-(2**63) - 1, 2**63, True, 1.0])
def test_landing_bounds_beyond_int64_are_refused_with_their_name(ms: object) -> None:
    f = filters(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match=r"^ingested_after_ms must be an Int64"):
        build_report_query(f, database="db", table="t", scope=EVERYTHING, ingested_after_ms=ms)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^ingested_until_ms must be an Int64"):
        build_count_query(f, database="db", table="t", scope=EVERYTHING, ingested_until_ms=ms)  # type: ignore[arg-type]
