"""Edges of the report's parameters that a user can meet: the years a bound may name (and the
sentence that says so, with the value as given), "now" cut to the millisecond for the end of the
default range, and zone names that only look like one once lowercased."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from actionlog.core.errors import BadParameter
from actionlog.query.filters import parse_report_params


@pytest.mark.parametrize(
    ("param", "raw"),
    [
        ("from", "1899-12-31"),
        ("to", "2300-01-01"),
        ("from", "1899-12-31T23:59:59Z"),
        ("to", "2300-01-01T00:00:00+01:00"),
    ],
)
def test_a_bound_outside_the_years_names_itself_and_the_years(param: str, raw: str) -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    with pytest.raises(BadParameter) as caught:
        parse_report_params({param: [raw]}, now=now)
    assert caught.value.param == param
    assert caught.value.why == f"{raw!r}: the year must be between 1900 and 2299"


@pytest.mark.parametrize("micros", [0, 999, 1_000, 2_000, 2_999, 999_999])
def test_the_default_range_ends_just_after_now_cut_to_the_millisecond(micros: int) -> None:
    now = datetime(2026, 11, 28, 15, 30, 45, micros, tzinfo=UTC)
    filters = parse_report_params({}, now=now)
    cut = now.replace(microsecond=micros - micros % 1000)  # the millisecond now falls in
    assert filters.end == cut + timedelta(milliseconds=1)
    assert filters.start == filters.end - timedelta(milliseconds=1) - timedelta(days=30)


def test_a_zone_name_is_ascii_even_where_lowercasing_would_make_it_one() -> None:
    # KELVIN SIGN lowercases to "k": "Asia/\u212aolkata".lower() is a zone name, the text is not.
    assert "Asia/\u212aolkata".lower() == "asia/kolkata"
    with pytest.raises(BadParameter) as caught:
        parse_report_params({"tz": ["Asia/\u212aolkata"]}, now=datetime(2026, 11, 28, tzinfo=UTC))
    assert caught.value.param == "tz"
    assert parse_report_params({"tz": ["asia/KOLKATA"]}, now=datetime(2026, 11, 28, tzinfo=UTC)).tz == "Asia/Kolkata"
