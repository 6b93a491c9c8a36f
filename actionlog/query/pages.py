"""The report one page at a time (docs/report.md#paging): keyset pages on the report order.

A page is found in two statements: the keys of its rows (`build_keys_query`, one more than the
page holds, to know whether more follow), then exactly those rows, formatted (`build_report_query`
with ``page=``). Following cursors from the first page visits every row that matched when it was
asked for exactly once, in report order, whatever lands meanwhile: a cursor names the last row
seen, never an offset, and pins the time range the first page resolved (so "the last 30 days"
does not slide between pages).

A cursor is opaque to callers: base64url of ``[1, last occurred_at ms, last event_id, range start
ms, range end ms]``. Tampering with it can only move within the caller's own scope and filters.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import orjson

from actionlog.core.errors import BadParameter
from actionlog.core.scope import Scope
from actionlog.query.filters import ReportFilters
from actionlog.query.framing import Framer, RowCounter
from actionlog.query.report import counted, framed, limits_of
from actionlog.query.seek import find_keys
from actionlog.query.sql import MAX_PAGE_ROWS, Key, build_report_query, clickhouse_format
from actionlog.store import Store, read_all

__all__ = ["MAX_PAGE_ROWS", "Cursor", "Page", "decode_cursor", "encode_cursor", "open_page"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_CURSOR = 1024


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after ``after``, within the pinned range."""

    after: Key
    start_ms: int
    end_ms: int


def _ms(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(milliseconds=1)


def encode_cursor(cursor: Cursor) -> str:
    data = orjson.dumps([1, cursor.after.occurred_ms, cursor.after.event_id, cursor.start_ms, cursor.end_ms])
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_cursor(text: str) -> Cursor:
    """Raises BadParameter("cursor") for anything that is not a cursor this server made."""
    try:
        if len(text) > _MAX_CURSOR:
            raise ValueError("too long")
        data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        version, at, event_id, start, end = data
        ok = version == 1 and all(type(v) is int for v in (at, start, end)) and type(event_id) is str
        if not ok or not -(2**62) < start < end < 2**62:
            raise ValueError("malformed")
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise BadParameter("cursor", "is not a cursor of this report (follow the Link of the previous page)") from None
    return Cursor(Key(at, event_id), start, end)


def pinned(filters: ReportFilters, cursor: Cursor) -> ReportFilters:
    """The filters with the range the first page resolved."""
    return replace(
        filters,
        start=_EPOCH + timedelta(milliseconds=cursor.start_ms),
        end=_EPOCH + timedelta(milliseconds=cursor.end_ms),
    )


@dataclass
class Page:
    """One page: its body (blocking chunks) and the cursor of the next page, if more rows match."""

    chunks: Iterator[bytes]
    next_cursor: Cursor | None


def open_page(
    store: Store,
    filters: ReportFilters,
    scope: Scope,
    size: int,
    cursor: Cursor | None,
    counter: RowCounter | None = None,
    now_ms: int | None = None,
) -> Page:
    """Find the page (blocking: the keys are read here, `actionlog.query.seek`) and prepare its body.

    Args:
        filters: the request's filters (the cursor's range replaces theirs).
        size: rows per page, 1..`MAX_PAGE_ROWS`.
        cursor: where to start; None for the first page.
        now_ms: the present (epoch ms; default: this machine's clock), where the newest rows are.
    """
    if cursor is not None:
        filters = pinned(filters, cursor)
    db, table = store.settings.database, store.settings.table
    limits = limits_of(store)
    now = _ms(datetime.now(UTC)) if now_ms is None else now_ms
    keys = find_keys(store, filters, scope, after=cursor.after if cursor else None, size=size + 1, now_ms=now)
    page, more = keys[:size], len(keys) > size
    nxt = Cursor(page[-1], _ms(filters.start), _ms(filters.end)) if more else None
    body = build_report_query(filters, database=db, table=table, scope=scope, page=page, limits=limits)
    rows = read_all(store, body.sql, body.params, clickhouse_format(filters.fmt))
    return Page(framed(counted(rows, counter), Framer(filters.fmt, count_rows=False)), nxt)
