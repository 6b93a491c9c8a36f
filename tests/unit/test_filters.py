"""Unit tests of query.filters: report parameters → ReportFilters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actionlog.core.errors import BadParameter
from actionlog.query.filters import EARLIEST, LATEST, ReportFilters, parse_report_params

NOW = datetime(2026, 11, 28, 15, 30, 45, 123456, tzinfo=UTC)
NOW_MS = datetime(2026, 11, 28, 15, 30, 45, 123000, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def parse(**params: str | list[str]) -> ReportFilters:
    mapping = {key.replace("_", "-"): [v] if isinstance(v, str) else v for key, v in params.items()}
    return parse_report_params(mapping, now=NOW)


# ---------------------------------------------------------------- date ranges

RANGES = [
    # (tz, from, to, expected start, expected end)
    ("UTC", "2026-11-03", "2026-11-03", "2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z"),
    ("UTC", "2026-11-01", "2026-11-03", "2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z"),
    # Paris: spring forward (23 h day) and fall back (25 h day)
    ("Europe/Paris", "2026-03-29", "2026-03-29", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"),
    ("Europe/Paris", "2026-10-25", "2026-10-25", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"),
    ("Europe/Paris", "2026-11-03", "2026-11-03", "2026-11-02T23:00:00Z", "2026-11-03T23:00:00Z"),
    # New York around both DST changes
    ("America/New_York", "2026-03-08", "2026-03-08", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"),
    ("America/New_York", "2026-11-01", "2026-11-01", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"),
    # Santiago: DST starts at midnight, the day begins at 01:00 local
    ("America/Santiago", "2026-09-06", "2026-09-06", "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"),
    ("America/Santiago", "2026-04-04", "2026-04-04", "2026-04-04T03:00:00Z", "2026-04-05T04:00:00Z"),
    ("Asia/Kolkata", "2026-11-03", "2026-11-03", "2026-11-02T18:30:00Z", "2026-11-03T18:30:00Z"),
    ("Pacific/Kiritimati", "2026-11-03", "2026-11-03", "2026-11-02T10:00:00Z", "2026-11-03T10:00:00Z"),
    # RFC 3339 with offset: from inclusive, to exclusive, --tz irrelevant
    (
        "Asia/Tokyo",
        "2026-11-03T14:05:06.123+01:00",
        "2026-11-03T15:00:00Z",
        "2026-11-03T13:05:06.123Z",
        "2026-11-03T15:00:00Z",
    ),
    ("UTC", "2026-11-03t14:05:06z", "2026-11-03 15:00:00-05:30", "2026-11-03T14:05:06Z", "2026-11-03T20:30:00Z"),
    ("UTC", "2026-11-03T14:05Z", "2026-11-03T14:06+00:00", "2026-11-03T14:05:00Z", "2026-11-03T14:06:00Z"),
    ("UTC", "2026-11-03T00:00:00-00:00", "2026-11-03T01:00:00Z", "2026-11-03T00:00:00Z", "2026-11-03T01:00:00Z"),
    # sub-millisecond fractions round up to the next millisecond (both ends)
    (
        "UTC",
        "2026-11-03T10:00:00.0001Z",
        "2026-11-03T11:00:00.123456789Z",
        "2026-11-03T10:00:00.001Z",
        "2026-11-03T11:00:00.124Z",
    ),
    (
        "UTC",
        "2026-11-03T10:00:00.1230000Z",
        "2026-11-03T11:00:00.5Z",
        "2026-11-03T10:00:00.123Z",
        "2026-11-03T11:00:00.500Z",
    ),
    # no offset: wall-clock time in --tz; gap → shifted forward, ambiguous → first
    ("Europe/Paris", "2026-11-03T14:00", "2026-11-03T15:30:00", "2026-11-03T13:00:00Z", "2026-11-03T14:30:00Z"),
    ("Europe/Paris", "2026-03-29T02:30:00", "2026-03-29T04:00:00", "2026-03-29T01:30:00Z", "2026-03-29T02:00:00Z"),
    ("Europe/Paris", "2026-10-25T02:30:00", "2026-10-25T03:00:00", "2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z"),
    # mixed: a date and a datetime
    ("Europe/Paris", "2026-11-01", "2026-11-03T12:00:00Z", "2026-10-31T23:00:00Z", "2026-11-03T12:00:00Z"),
    ("UTC", "2026-11-03T22:00:00-02:00", "2026-11-04", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z"),
    ("UTC", "1900-01-01", "2299-12-31", "1900-01-01T00:00:00Z", "2300-01-01T00:00:00Z"),
]


@pytest.mark.parametrize(("tz", "start", "end", "want_start", "want_end"), RANGES)
def test_explicit_range(tz: str, start: str, end: str, want_start: str, want_end: str) -> None:
    got = parse(tz=tz, **{"from": start, "to": end})
    assert (got.start, got.end) == (utc(want_start), utc(want_end))
    assert got.start.tzinfo is UTC and got.end.tzinfo is UTC


DEFAULTS = [
    # neither: the last 30 days up to now, now included
    ({}, NOW_MS - timedelta(days=30), NOW_MS + MS),
    # only --from: up to now
    ({"from": "2026-11-01"}, utc("2026-11-01T00:00:00Z"), NOW_MS + MS),
    ({"from": "2026-11-28T15:30:45.123Z"}, NOW_MS, NOW_MS + MS),
    ({"from": "2026-11-01", "tz": "Europe/Paris"}, utc("2026-10-31T23:00:00Z"), NOW_MS + MS),
    # only --to, a date: the 30 whole days ending with it
    ({"to": "2026-11-03"}, utc("2026-10-05T00:00:00Z"), utc("2026-11-04T00:00:00Z")),
    ({"to": "2026-11-03", "tz": "Europe/Paris"}, utc("2026-10-04T22:00:00Z"), utc("2026-11-03T23:00:00Z")),
    # only --to, a datetime: 30 × 24 h before it
    ({"to": "2026-11-03T12:00:00Z"}, utc("2026-10-04T12:00:00Z"), utc("2026-11-03T12:00:00Z")),
    ({"to": "2030-01-01"}, utc("2029-12-03T00:00:00Z"), utc("2030-01-02T00:00:00Z")),
]


@pytest.mark.parametrize(("params", "want_start", "want_end"), DEFAULTS)
def test_default_range(params: dict[str, str], want_start: datetime, want_end: datetime) -> None:
    got = parse(**params)
    assert (got.start, got.end) == (want_start, want_end)


DEFAULT_DAYS_RANGES = [
    # (default_days, params, expected start, expected end)
    (30, {}, NOW_MS - timedelta(days=30), NOW_MS + MS),
    (7, {}, NOW_MS - timedelta(days=7), NOW_MS + MS),
    (1, {"to": "2026-11-03"}, utc("2026-11-03T00:00:00Z"), utc("2026-11-04T00:00:00Z")),
    (7, {"to": "2026-11-03T12:00:00Z"}, utc("2026-10-27T12:00:00Z"), utc("2026-11-03T12:00:00Z")),
    # None (the export job): an end not given is unbounded, now plays no part
    (None, {}, EARLIEST, LATEST),
    (None, {"from": "2026-11-01"}, utc("2026-11-01T00:00:00Z"), LATEST),
    (None, {"from": "2099-01-01"}, utc("2099-01-01T00:00:00Z"), LATEST),  # the future is fine
    (None, {"to": "2026-11-03"}, EARLIEST, utc("2026-11-04T00:00:00Z")),
    (None, {"to": "2026-11-03T12:00:00+01:00"}, EARLIEST, utc("2026-11-03T11:00:00Z")),
    (
        None,
        {"from": "2026-11-01", "to": "2026-11-03", "tz": "Europe/Paris"},
        utc("2026-10-31T23:00:00Z"),
        utc("2026-11-03T23:00:00Z"),
    ),
    (None, {"from": "1900-01-01", "to": "2299-12-31"}, EARLIEST, LATEST),
]


@pytest.mark.parametrize(("days", "params", "want_start", "want_end"), DEFAULT_DAYS_RANGES)
def test_default_days(days: int | None, params: dict[str, str], want_start: datetime, want_end: datetime) -> None:
    got = parse_report_params({k: [v] for k, v in params.items()}, now=NOW, default_days=days)
    assert (got.start, got.end) == (want_start, want_end)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"to": "1900-01-01T00:00:00Z"}, "to"),
        ({"to": "1900-01-01T00:00:00+01:00"}, "to"),
        ({"from": "2026-11-04", "to": "2026-11-03"}, "from"),
        ({"from": "2026-13-01"}, "from"),
    ],
)
def test_default_days_none_errors(params: dict[str, str], param: str) -> None:
    with pytest.raises(BadParameter) as info:
        parse_report_params({k: [v] for k, v in params.items()}, now=NOW, default_days=None)
    assert info.value.param == param


@pytest.mark.parametrize("days", [0, -1])
def test_default_days_must_be_positive(days: int) -> None:
    with pytest.raises(ValueError):
        parse_report_params({}, now=NOW, default_days=days)


def test_defaults_of_other_fields() -> None:
    got = parse()
    assert got == ReportFilters(start=NOW_MS - timedelta(days=30), end=NOW_MS + MS)
    assert (got.fmt, got.tz, got.limit, got.csv_formula_guard) == ("csv", "UTC", None, True)
    assert got.panoramas == got.learners == got.types == got.sources == ()


def test_empty_value_list_counts_as_absent() -> None:
    assert parse_report_params({"from": [], "type": []}, now=NOW) == parse()


def test_naive_now_is_a_programming_error() -> None:
    for params in ({}, {"from": ["2026-11-01"], "to": ["2026-11-02"]}):
        with pytest.raises(ValueError):
            parse_report_params(params, now=datetime(2026, 11, 28))


def test_now_in_another_zone() -> None:
    got = parse_report_params({}, now=NOW.astimezone(ZoneInfo("Asia/Tokyo")))
    assert got.end == NOW_MS + MS


# ---------------------------------------------------------------- values


VALUES = [
    ({"type": ["Status-Change", "enrollment", "status_change"]}, "types", ("status_change", "enrollment")),
    ({"type": ["REVOKED-ACCESS"]}, "types", ("revoked_access",)),
    (
        {"source": ["gift-course-purchase", "SSO", "Manager_grant_completed"]},
        "sources",
        ("gift_course_purchase", "sso", "manager_grant_completed"),
    ),
    ({"panorama": ["p-7", "Acme Academy", "p-7"]}, "panoramas", ("p-7", "Acme Academy")),
    ({"learner": [" Ada@Example.com ", "u-1"]}, "learners", (" Ada@Example.com ", "u-1")),
    ({"content": ["'; DROP TABLE x; --", "{x:String}"]}, "contents", ("'; DROP TABLE x; --", "{x:String}")),
    ({"course-group": ["a\x00b", "\\", "é漢🙂"]}, "course_groups", ("a\x00b", "\\", "é漢🙂")),
    ({"content-type": ["Course", "x" * 10_000]}, "content_types", ("Course", "x" * 10_000)),
    ({"tz": "europe/paris"}, "tz", "Europe/Paris"),
    ({"tz": "America/New_York"}, "tz", "America/New_York"),
    ({"tz": "Etc/UTC"}, "tz", "UTC"),
    ({"tz": "utc"}, "tz", "UTC"),
    ({"tz": "Zulu"}, "tz", "UTC"),
    ({"tz": "GMT"}, "tz", "GMT"),
    ({"format": "JSON"}, "fmt", "json"),
    ({"format": "ndjson"}, "fmt", "ndjson"),
    ({"format": "csv"}, "fmt", "csv"),
    ({"csv-formula-guard": "FALSE"}, "csv_formula_guard", False),
    ({"csv-formula-guard": "0"}, "csv_formula_guard", False),
    ({"csv-formula-guard": "true"}, "csv_formula_guard", True),
    ({"csv-formula-guard": "1"}, "csv_formula_guard", True),
    ({"limit": "10"}, "limit", 10),
    ({"limit": "007"}, "limit", 7),
    ({"limit": str(2**63 - 1)}, "limit", 2**63 - 1),
]


@pytest.mark.parametrize(("params", "field", "want"), VALUES)
def test_values(params: dict[str, str | list[str]], field: str, want: object) -> None:
    got = parse_report_params({k: [v] if isinstance(v, str) else v for k, v in params.items()}, now=NOW)
    assert getattr(got, field) == want


def test_a_bare_string_counts_as_one_value() -> None:
    assert parse_report_params({"type": "enrollment"}, now=NOW).types == ("enrollment",)  # type: ignore[dict-item]


# ---------------------------------------------------------------- errors

ERRORS = [
    ({"from": "2026-13-01"}, "from"),
    ({"from": "2026-02-30"}, "from"),
    ({"from": "yesterday"}, "from"),
    ({"from": "2026-1-3"}, "from"),
    ({"from": "２０２６-11-03"}, "from"),
    ({"from": "2026-11-03T14:05:06+0100"}, "from"),
    ({"from": "2026-11-03T14:05:06+24:00"}, "from"),
    ({"from": "2026-11-03T14:05:60Z"}, "from"),
    ({"from": "2026-11-03T14:05:06.1234567891Z"}, "from"),
    ({"from": " 2026-11-03"}, "from"),
    ({"to": "2026-11-03T25:00:00Z"}, "to"),
    ({"to": "2026-11-03T"}, "to"),
    ({"to": ""}, "to"),
    ({"from": "1899-12-31"}, "from"),
    ({"to": "2300-01-01"}, "to"),
    ({"from": "2026-11-04", "to": "2026-11-03"}, "from"),
    ({"from": "2026-11-03T10:00:00Z", "to": "2026-11-03T10:00:00Z"}, "from"),
    ({"from": "2026-11-03T10:00:00.0001Z", "to": "2026-11-03T10:00:00.0002Z"}, "from"),
    ({"from": "2026-12-01"}, "from"),
    ({"from": "2026-11-28T15:30:45.124Z"}, "from"),
    ({"tz": "Mars/Phobos"}, "tz"),
    ({"tz": "localtime"}, "tz"),
    ({"tz": "../../etc/passwd"}, "tz"),
    ({"tz": "Europe/Paris\n"}, "tz"),
    ({"tz": ""}, "tz"),
    ({"format": "xml"}, "format"),
    ({"format": ""}, "format"),
    ({"limit": "0"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"limit": " 5"}, "limit"),
    ({"limit": "+5"}, "limit"),
    ({"limit": "1_000"}, "limit"),
    ({"limit": "٣"}, "limit"),
    ({"limit": str(2**63)}, "limit"),
    ({"limit": "9" * 40}, "limit"),
    ({"csv-formula-guard": "yes"}, "csv-formula-guard"),
    ({"type": "purchase"}, "type"),
    ({"type": "enrollmenT "}, "type"),
    ({"source": "nope"}, "source"),
    ({"source": " sso"}, "source"),
    ({"source": "ſso"}, "source"),
    ({"panorama": ""}, "panorama"),
    ({"content": ""}, "content"),
    ({"learner": ["u-1", ""]}, "learner"),
    ({"type": ""}, "type"),
    ({"source": ""}, "source"),
    ({"course-group": ""}, "course-group"),
    ({"content-type": ""}, "content-type"),
    ({"from": ["2026-11-01", "2026-11-02"]}, "from"),
    ({"to": ["2026-11-03", "2026-11-03"]}, "to"),
    ({"format": ["csv", "json"]}, "format"),
    ({"limit": ["1", "2"]}, "limit"),
    ({"tz": ["UTC", "UTC"]}, "tz"),
    ({"csv-formula-guard": ["1", "0"]}, "csv-formula-guard"),
    ({"foo": "1"}, "foo"),
    ({"course_group": "g"}, "course_group"),
    ({"output": "x.csv"}, "output"),
]


@pytest.mark.parametrize(("params", "param"), ERRORS)
def test_bad_parameter(params: dict[str, str | list[str]], param: str) -> None:
    mapping = {k: [v] if isinstance(v, str) else v for k, v in params.items()}
    with pytest.raises(BadParameter) as info:
        parse_report_params(mapping, now=NOW)
    assert info.value.param == param
    assert info.value.why
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("key", ["bad\nkey", "x" * 500, "a b"])
def test_unknown_weird_key_message_is_one_short_line(key: str) -> None:
    with pytest.raises(BadParameter) as info:
        parse_report_params({key: ["1"]}, now=NOW)
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 200


def test_hostile_value_in_error_message_is_escaped_and_short() -> None:
    with pytest.raises(BadParameter) as info:
        parse(**{"from": "x\n\x00" + "y" * 5000})
    message = str(info.value)
    assert "\n" not in message and "\x00" not in message and len(message) < 300


def test_from_after_to_mentions_both() -> None:
    with pytest.raises(BadParameter, match="2026-11-03"):
        parse(**{"from": "2026-11-04", "to": "2026-11-03"})


# ---------------------------------------------------------------- properties

ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "America/Santiago",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Tehran",
    "Africa/Casablanca",
    "America/St_Johns",
    "Pacific/Apia",
]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    day=st.dates(min_value=date(1970, 1, 2), max_value=date(2100, 12, 30)),
    span=st.integers(min_value=0, max_value=40),
)
def test_whole_days_cover_exactly_those_local_days(zone: str, day: date, span: int) -> None:
    last = day + timedelta(days=span)
    got = parse_report_params({"from": [day.isoformat()], "to": [last.isoformat()], "tz": [zone]}, now=NOW)
    local = ZoneInfo(zone)
    assert got.start.astimezone(local).date() == day
    assert (got.start - MS).astimezone(local).date() < day
    assert (got.end - MS).astimezone(local).date() == last
    assert got.end.astimezone(local).date() > last
    assert got.start.microsecond % 1000 == got.end.microsecond % 1000 == 0
