"""Report filters: parse and validate the report parameters (docs/report.md).

The CLI (``actionlog report --from ... --type ...``) and the HTTP endpoint
(``?from=...&type=...``) both build a mapping *long flag name without dashes* →
list of values and hand it to `parse_report_params`, so both accept and reject
exactly the same input. The result, `ReportFilters`, is what `actionlog.query.sql` turns
into one parameterized statement.

Rules decided here (see the README):

* ``YYYY-MM-DD`` is a whole day in ``--tz``; ``--from`` starts at the first instant
  of that day, ``--to`` ends (exclusive) at the first instant of the next day, so
  both ends are inclusive. DST days are 23 or 25 hours long, as the zone says.
* An RFC 3339 datetime with an offset (``Z``/``+01:00``) is an instant; one
  *without* an offset is a wall-clock time in ``--tz`` (an ambiguous time takes
  its first occurrence, a time in a DST gap is moved forward by the gap). Seconds
  may be left out; ``T``, ``t`` or a space separates date and time. Timestamps are
  stored with millisecond precision, so a finer fraction is rounded *up* to the
  next millisecond on both ends (exactly the rows at or after / before it).
* Neither ``--from`` nor ``--to``: the last 30 days up to now, ``now`` included
  (``[now - 30 days, now + 1 ms)``, ``now`` truncated to the millisecond). Only
  ``--from``: up to now (same end). Only ``--to``: the 30 days before it (for a
  date, the 30 whole days ending with that day in ``--tz``; for a datetime,
  ``--to`` minus 30 × 24 hours). The number of days is ``default_days``.
* ``default_days=None`` (the export job): an end not given is unbounded, i.e. the
  whole range a ``DateTime64`` holds (`EARLIEST` .. `LATEST`), so there is no
  ``occurred_at`` restriction at all when neither end is given; ``now`` is unused.
* The range must not be empty: ``--from`` at or after the end is an error.
  Years must be within 1900..2299 (ClickHouse's DateTime64 range).
* ``--type`` and ``--source`` follow the catalog's matching rules (ASCII case
  ignored, ``-`` equals ``_``) and are stored in canonical form; an unknown
  value is a bad parameter (exit 2), for ``--type`` as for ``--source``.
* Other filter values are kept byte for byte (not trimmed, any Unicode); only
  an empty value is refused. Repeated identical values are kept once.
* ``--tz`` is an IANA zone name, matched case-insensitively and stored in its
  canonical spelling; ``UTC``-like names (``Etc/UTC``, ``UCT``, ``Zulu``,
  ``Universal``…) become ``UTC`` (timestamps end in ``Z``).
* ``--format`` is ``csv``, ``json`` or ``ndjson`` (case-insensitive);
  ``--limit`` a decimal integer from 1 to 2**63 - 1; ``--csv-formula-guard``
  ``true``/``false``/``1``/``0`` (case-insensitive).
* Unknown parameters, and single-valued ones given twice, are bad parameters.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import NamedTuple

from actionlog.core.catalog import TYPES, find_source, find_type
from actionlog.core.errors import BadParameter

__all__ = [
    "DEFAULT_DAYS",
    "FORMATS",
    "MULTI_KEYS",
    "SINGLE_KEYS",
    "ReportFilters",
    "parse_report_params",
    "parse_tz",
    "start_of_day",
    "tzinfo_of",
]

FORMATS: tuple[str, ...] = ("csv", "json", "ndjson")
DEFAULT_DAYS = 30
#: The range of ClickHouse's ``DateTime64``: the bounds of an unbounded range (``default_days=None``).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2300, 1, 1, tzinfo=UTC)
#: Repeatable filter parameters → `ReportFilters` field.
MULTI_KEYS: Mapping[str, str] = {
    "panorama": "panoramas",
    "content": "contents",
    "learner": "learners",
    "type": "types",
    "source": "sources",
    "course-group": "course_groups",
    "content-type": "content_types",
}
SINGLE_KEYS: tuple[str, ...] = ("from", "to", "format", "limit", "tz", "csv-formula-guard")

_MS = timedelta(milliseconds=1)
_MAX_LIMIT = 2**63 - 1
_MIN_YEAR, _MAX_YEAR = 1900, 2299
_UTC_ALIASES = frozenset({"utc", "etc/utc", "uct", "etc/uct", "universal", "etc/universal", "zulu", "etc/zulu"})
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]{1,40}")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?"
)
_BOOLS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class ReportFilters:
    """A validated report request.

    Attributes:
        start: first instant included (UTC-aware, whole milliseconds).
        end: first instant excluded (UTC-aware, whole milliseconds, after ``start``).
        panoramas: panorama ids or names (names match case-insensitively).
        contents: content ids.
        learners: learner ids or emails (emails match case-insensitively).
        types: canonical action types (members of ``catalog.TYPES``).
        sources: canonical sources.
        course_groups: course group ids.
        content_types: content types (match case-insensitively).
        limit: at most this many rows, or None for all.
        tz: canonical IANA zone name of the timestamps (``UTC`` for UTC).
        fmt: ``csv``, ``json`` or ``ndjson``.
        csv_formula_guard: prefix CSV text cells that start like a formula with ``'``.
    """

    start: datetime
    end: datetime
    panoramas: tuple[str, ...] = ()
    contents: tuple[str, ...] = ()
    learners: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    course_groups: tuple[str, ...] = ()
    content_types: tuple[str, ...] = ()
    limit: int | None = None
    tz: str = "UTC"
    fmt: str = "csv"
    csv_formula_guard: bool = True


class _Bound(NamedTuple):
    """A parsed --from/--to value: the instant, and whether it was a date."""

    instant: datetime
    day: date | None


def show(value: str, width: int = 40) -> str:
    """Quote a user value for a one-line error message (escaped, shortened)."""
    text = value if len(value) <= width else value[:width] + "…"
    return repr(text)


@functools.cache
def _zone_names() -> dict[str, str]:
    names = zoneinfo.available_timezones() - {"localtime", "posixrules"}
    return {name.lower(): name for name in names}


def parse_tz(raw: str) -> str:
    """Return the canonical name of the IANA zone ``raw`` (case-insensitive).

    Raises:
        BadParameter: ``raw`` names no zone.
    """
    if raw.lower() in _UTC_ALIASES:
        return "UTC"
    name = _zone_names().get(raw.lower()) if _ZONE_NAME.fullmatch(raw) else None
    if name is None:
        raise BadParameter("tz", f"{show(raw)} is not an IANA time zone name (e.g. UTC, Europe/Paris)")
    zoneinfo.ZoneInfo(name)  # loads: available_timezones() only lists loadable zones
    return name


def tzinfo_of(tz: str) -> tzinfo:
    """Return the tzinfo of a canonical zone name (``UTC`` needs no zone database)."""
    return UTC if tz == "UTC" else zoneinfo.ZoneInfo(tz)


def _check_year(param: str, raw: str, year: int) -> None:
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise BadParameter(param, f"{show(raw)}: the year must be between {_MIN_YEAR} and {_MAX_YEAR}")


def start_of_day(day: date, zone: tzinfo) -> datetime:
    """Return the first instant (UTC) of ``day`` in ``zone``.

    ``fold=0`` gives the earlier of two midnights, and a midnight that falls in a
    DST gap maps to the instant the day actually starts.
    """
    return datetime(day.year, day.month, day.day, tzinfo=zone, fold=0).astimezone(UTC)


def _parse_bound(param: str, raw: str, zone: tzinfo) -> _Bound:
    match = _DATE.fullmatch(raw)
    if match:
        year, month, dd = (int(g) for g in match.groups())
        _check_year(param, raw, year)
        try:
            day = date(year, month, dd)
        except ValueError:
            raise BadParameter(param, f"{show(raw)} is not a valid date") from None
        return _Bound(start_of_day(day, zone), day)
    match = _DATETIME.fullmatch(raw)
    if not match:
        raise BadParameter(
            param, f"{show(raw)} is neither a date (YYYY-MM-DD) nor an RFC 3339 datetime (2026-11-03T14:05:06Z)"
        )
    year, month, dd, hh, mi = (int(g) for g in match.groups()[:5])
    sec_s, frac, zulu, sign, off_h, off_m = match.groups()[5:]
    _check_year(param, raw, year)
    frac = frac or ""
    millis = int(frac[:3].ljust(3, "0"))
    round_up = frac[3:].strip("0") != ""
    try:
        if sign:
            if int(off_h) > 23 or int(off_m) > 59:
                raise ValueError("offset")
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            local = datetime(year, month, dd, hh, mi, int(sec_s or 0), millis * 1000)
            instant = (local - offset if sign == "+" else local + offset).replace(tzinfo=UTC)
        elif zulu:
            instant = datetime(year, month, dd, hh, mi, int(sec_s or 0), millis * 1000, tzinfo=UTC)
        else:
            local = datetime(year, month, dd, hh, mi, int(sec_s or 0), millis * 1000, tzinfo=zone, fold=0)
            instant = local.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadParameter(param, f"{show(raw)} is not a valid date and time") from None
    if round_up:
        instant += _MS
    return _Bound(instant, None)


def _now_ms(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _resolve_range(
    raw_from: str | None,
    raw_to: str | None,
    zone: tzinfo,
    now: datetime,
    days: int | None = DEFAULT_DAYS,
) -> tuple[datetime, datetime]:
    now_ms = _now_ms(now)  # a naive `now` is an error whether or not it is needed
    lo = _parse_bound("from", raw_from, zone) if raw_from is not None else None
    hi = _parse_bound("to", raw_to, zone) if raw_to is not None else None
    if hi is None:
        end = LATEST if days is None else now_ms + _MS
    elif hi.day is not None:
        end = start_of_day(hi.day + timedelta(days=1), zone)
    else:
        end = hi.instant
    if lo is not None:
        start = lo.instant
    elif days is None:
        start = EARLIEST
    elif hi is not None and hi.day is not None:
        start = start_of_day(hi.day - timedelta(days=days - 1), zone)
    else:
        start = end - timedelta(days=days) if hi is not None else end - _MS - timedelta(days=days)
    if start >= end:
        if lo is None:  # only with days=None: --to at or before EARLIEST
            raise BadParameter("to", f"{show(raw_to or '')} is not after {EARLIEST.isoformat()}")
        if hi is None:
            raise BadParameter("from", f"{show(raw_from or '')} is in the future")
        raise BadParameter("from", f"{show(raw_from or '')} is not before --to {show(raw_to or '')}")
    return start, end


def _values(key: str, values: Sequence[str] | str) -> list[str]:
    items = [values] if isinstance(values, str) else list(values)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"value of {key!r} must be a string, got {type(item).__name__}")
    return items


def _single(key: str, items: list[str]) -> str | None:
    if not items:
        return None
    if len(items) > 1:
        raise BadParameter(key, "may be given only once")
    return items[0]


def _filter_values(key: str, items: list[str]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for item in items:
        if item == "":
            raise BadParameter(key, "must not be empty")
        if key == "type":
            canonical = find_type(item)
            if canonical is None:
                raise BadParameter(key, f"unknown action type {show(item)} (one of: {', '.join(TYPES)})")
        elif key == "source":
            canonical = find_source(item)
            if canonical is None:
                raise BadParameter(key, f"unknown source {show(item)}")
        else:
            canonical = item
        out[canonical] = None
    return tuple(out)


def _parse_limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{1,19}", raw) or not 1 <= int(raw) <= _MAX_LIMIT:
        raise BadParameter("limit", f"{show(raw)} is not a positive integer")
    return int(raw)


def parse_report_params(
    params: Mapping[str, Sequence[str]], *, now: datetime, default_days: int | None = DEFAULT_DAYS
) -> ReportFilters:
    """Validate report parameters and resolve the date range.

    Args:
        params: long flag name without dashes → its values in the order given
            (``{"type": ["enrollment", "sso"], "from": ["2026-11-01"]}``). A key
            with an empty list counts as absent.
        now: the current time (timezone-aware), for the default range.
        default_days: length of the default range in days (the report's 30), or
            None for no default: an end not given is unbounded (`EARLIEST` /
            `LATEST`), as the export job wants.

    Returns:
        The validated filters.

    Raises:
        BadParameter: an unknown parameter, a single-valued one given twice, or a
            bad value; ``param`` names it, ``why`` says what is wrong.
        ValueError: ``now`` is naive (a programming error).
    """
    got: dict[str, list[str]] = {}
    for key, values in params.items():
        if key not in MULTI_KEYS and key not in SINGLE_KEYS:
            raise BadParameter(key if _PLAIN_KEY.fullmatch(key) else show(key), "unknown parameter")
        got[key] = _values(key, values)
    single = {key: _single(key, got.get(key, [])) for key in SINGLE_KEYS}

    tz = parse_tz(single["tz"]) if single["tz"] is not None else "UTC"
    if default_days is not None and default_days < 1:
        raise ValueError("default_days must be at least 1, or None")
    start, end = _resolve_range(single["from"], single["to"], tzinfo_of(tz), now, default_days)

    fmt = "csv" if single["format"] is None else single["format"].lower()
    if fmt not in FORMATS:
        raise BadParameter("format", f"{show(single['format'] or '')} is not one of csv, json, ndjson")
    guard_raw = single["csv-formula-guard"]
    guard = True if guard_raw is None else _BOOLS.get(guard_raw.lower())
    if guard is None:
        raise BadParameter("csv-formula-guard", f"{show(guard_raw or '')} is not true, false, 1 or 0")

    lists = {field: _filter_values(key, got.get(key, [])) for key, field in MULTI_KEYS.items()}
    return ReportFilters(
        start=start,
        end=end,
        limit=_parse_limit(single["limit"]),
        tz=tz,
        fmt=fmt,
        csv_formula_guard=guard,
        **lists,
    )
