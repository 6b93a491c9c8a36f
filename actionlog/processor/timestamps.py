"""RFC 3339 timestamps with an offset to epoch milliseconds, strictly and fast (docs/input.md).

Accepted: ``YYYY-MM-DD`` + ``T``/``t``/space + ``HH:MM:SS`` + optional fraction of any
length (truncated, not rounded, to milliseconds) + ``Z``/``z`` or ``±HH:MM``
(``-00:00`` included). Refused: anything else, including no offset, ``+0100``,
``+01``, a date alone, seconds = 60 (a leap second has no epoch-ms value), non-ASCII
digits, impossible dates (``2026-02-30``), and instants outside `MIN_OCCURRED_AT_MS`
(1970-01-01T00:00:00.000Z) .. `MAX_OCCURRED_AT_MS` (2299-12-31T23:59:59.999Z), the span
ClickHouse ``DateTime64`` can hold. ``datetime.fromisoformat`` is not used: it accepts
many non-RFC 3339 forms.

This is the normalizer's hot path: parts are looked up in tables and small bounded
caches instead of being converted with ``int()``, and the regex only runs for text
whose date or tail (fraction and offset) has not been seen yet.
"""

from __future__ import annotations

import re

__all__ = [
    "CACHE_SIZE",
    "MAX_OCCURRED_AT_MS",
    "MIN_OCCURRED_AT_MS",
    "parse_occurred_at",
    "rfc3339_shape",
    "rfc3339_without_offset",
]

MIN_OCCURRED_AT_MS = 0
"""1970-01-01T00:00:00.000Z."""
MAX_OCCURRED_AT_MS = 10_413_791_999_999
"""2299-12-31T23:59:59.999Z, the last millisecond ClickHouse DateTime64 can store."""

# RFC 3339 date-time; fixed positions up to the seconds (0-18), then fraction and offset.
rfc3339_shape = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
).fullmatch
rfc3339_without_offset = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
).fullmatch

# Lookup tables: dict probes are much cheaper than int() on slices.
_HOUR_MINUTE_MS = {f"{h:02d}:{m:02d}": (h * 60 + m) * 60_000 for h in range(24) for m in range(60)}
_SECOND_MS = {f"{s:02d}": s * 1000 for s in range(60)}  # no "60": leap seconds are refused
_FRACTION_MS = {
    **{f"{d:01d}": d * 100 for d in range(10)},
    **{f"{d:02d}": d * 10 for d in range(100)},
    **{f"{d:03d}": d for d in range(1000)},
}
_OFFSET_MS = {
    f"{sign}{h:02d}:{m:02d}": (-1 if sign == "+" else 1) * (h * 60 + m) * 60_000
    for sign in "+-"
    for h in range(24)
    for m in range(60)
}
_DATE_TIME_SEPARATORS = frozenset("Tt ")
# Cached for dates like 2026-02-30: so far below MIN_OCCURRED_AT_MS that the range check refuses it.
_NO_SUCH_DATE = -(1 << 62)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Bounded caches (cleared when full): dates and fraction+offset tails recur in a stream.
CACHE_SIZE = 16384
_date_ms_cache: dict[str, int] = {}
_tail_ms_cache: dict[str, int] = {}


def _days_since_epoch(year: int, month: int, day: int) -> int | None:
    """Days from 1970-01-01 to a proleptic Gregorian date, or None if no such date."""
    if not 1 <= month <= 12 or day < 1:
        return None
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > (29 if month == 2 and leap else _DAYS_IN_MONTH[month]):
        return None
    # Howard Hinnant's days_from_civil.
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _date_ms(date: str) -> int:
    """Epoch ms of ``YYYY-MM-DD`` at 00:00 UTC, or `_NO_SUCH_DATE` if no such date; cached."""
    days = _days_since_epoch(int(date[0:4]), int(date[5:7]), int(date[8:10]))
    ms = _NO_SUCH_DATE if days is None else days * 86_400_000
    if len(_date_ms_cache) >= CACHE_SIZE:
        _date_ms_cache.clear()
    _date_ms_cache[date] = ms
    return ms


def _tail_ms(tail: str) -> int | None:
    """Milliseconds that ``[.fraction](Z|±HH:MM)`` adds to the local time (fraction + offset).

    Returns None for an offset out of range (``+24:00``, ``+01:60``). Valid short tails are cached.
    """
    if tail[-1] in "Zz":
        offset = 0
        end = len(tail) - 1
    else:
        found = _OFFSET_MS.get(tail[-6:])
        if found is None:
            return None
        offset = found
        end = len(tail) - 6
    ms = offset
    if end > 0:  # tail[0] is "."; keep at most 3 digits (truncation, not rounding)
        ms += _FRACTION_MS[tail[1 : min(end, 4)]]
    if len(tail) <= 10:  # ".fff+HH:MM": few distinct values; longer fractions would flood the cache
        if len(_tail_ms_cache) >= CACHE_SIZE:
            _tail_ms_cache.clear()
        _tail_ms_cache[tail] = ms
    return ms


def parse_occurred_at(text: str) -> int | None:
    """Parse RFC 3339 text with an offset into epoch milliseconds UTC.

    Args:
        text: the ``occurred_at`` string.

    Returns:
        Epoch ms (fraction truncated to ms), or None when the text is not RFC 3339
        with an offset, names no real date/time, or is outside the accepted range.
    """
    # Layout: YYYY-MM-DD ? HH:MM : SS [.f+](Z|±HH:MM), the parts at fixed positions up to 19.
    # Every key of the tables and caches below is a part the regex accepted, so when each
    # part is found (and the two separators are right) the text has the regex's shape.
    day = _date_ms_cache.get(text[:10])
    tail = _tail_ms_cache.get(text[19:])
    if day is None or tail is None or text[10:11] not in _DATE_TIME_SEPARATORS or text[16:17] != ":":
        return _parse_occurred_at_uncached(text)
    hour_minute = _HOUR_MINUTE_MS.get(text[11:16])
    second = _SECOND_MS.get(text[17:19])
    if hour_minute is None or second is None:
        return None
    ms = day + hour_minute + second + tail
    if ms < MIN_OCCURRED_AT_MS or ms > MAX_OCCURRED_AT_MS:
        return None
    return ms


def _parse_occurred_at_uncached(text: str) -> int | None:
    """`parse_occurred_at` for text whose date or tail is not cached yet: check with the regex."""
    if rfc3339_shape(text) is None:
        return None
    day = _date_ms_cache.get(text[:10])
    if day is None:
        day = _date_ms(text[:10])
    hour_minute = _HOUR_MINUTE_MS.get(text[11:16])
    second = _SECOND_MS.get(text[17:19])
    if hour_minute is None or second is None:
        return None
    tail = _tail_ms_cache.get(text[19:])
    if tail is None:
        tail = _tail_ms(text[19:])
        if tail is None:
            return None
    ms = day + hour_minute + second + tail
    if ms < MIN_OCCURRED_AT_MS or ms > MAX_OCCURRED_AT_MS:
        return None
    return ms
