"""Finding the rows of a report page fast (docs/performance.md#reports): the keys of the next rows.

Two ways, both returning exactly what `build_keys_query` over the whole range returns:

* filters with a key family (learner, content, course group, panorama, type and source, or a
  limited scope): the newest candidate instants from the filter keys (`actionlog.query.narrow`),
  then the keys of the matching rows at those instants; more, strictly older, candidates while
  the page is not full and candidates remain;
* other filters (none, a type, a content type…), which match many rows: the newest day of the
  range first, then 8 days, 64 days, then the whole range, until the page is full. Each window
  is a suffix of the range, so a full page from a window is the page of the whole range.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from actionlog.core.scope import Scope
from actionlog.query.filters import EARLIEST, LATEST, ReportFilters
from actionlog.query.narrow import candidates_query, instants_within
from actionlog.query.sql import Key, QueryLimits, build_keys_query, epoch_ms
from actionlog.store import Store

__all__ = ["MAX_CANDIDATES", "WINDOWS", "find_keys", "limits_of"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The suffixes of the range tried in turn by reports without a key family.
WINDOWS = (timedelta(days=1), timedelta(days=8), timedelta(days=64))
#: The most candidate instants one statement reads the log at (the batches grow up to it).
MAX_CANDIDATES = 8192


def limits_of(store: Store) -> QueryLimits:
    """The limits every report statement run on ``store`` carries (``ACTIONLOG_CLICKHOUSE_QUERY_MAX_*``)."""
    return QueryLimits(store.settings.query_max_seconds, store.settings.query_max_memory)


def find_keys(
    store: Store, filters: ReportFilters, scope: Scope, *, after: Key | None, size: int, now_ms: int
) -> list[Key]:
    """The keys of the first ``size`` rows of the report after ``after`` (None: from the first),
    in report order. ``now_ms`` (epoch ms) places the first window of a report without keys."""
    db, table = store.settings.database, store.settings.table
    n = min(size + size // 10 + 16, MAX_CANDIDATES)
    keys: list[Key] = []
    upto = after.occurred_ms if after else None
    while True:
        q = candidates_query(filters, database=db, table=table, scope=scope, upto_ms=upto, n=n, limits=limits_of(store))
        if q is None:
            return _by_windows(store, filters, scope, after, size, now_ms)
        instants = [int(row[0]) for row in store.query_rows(q.sql, q.params)]
        if not instants:
            return keys
        keys += _keys(store, filters, scope, after, size - len(keys), instants)
        if len(keys) >= size or len(instants) < n:
            return keys
        # Every row at the candidates read so far was seen: go on strictly before the oldest.
        upto = instants[-1] - 1
        n = min(2 * n, MAX_CANDIDATES)


def _keys(
    store: Store, filters: ReportFilters, scope: Scope, after: Key | None, size: int, instants: list[int]
) -> list[Key]:
    q = build_keys_query(
        filters,
        database=store.settings.database,
        table=store.settings.table,
        scope=scope,
        after=after,
        size=size,
        within=instants_within(instants),
        limits=limits_of(store),
    )
    return [Key(int(ms), str(event_id)) for ms, event_id in store.query_rows(q.sql, q.params)]


def _windows(filters: ReportFilters, anchor_ms: int) -> Iterator[ReportFilters]:
    """The filters over ever longer suffixes of their range, the whole range last."""
    start_ms = epoch_ms(filters.start) if filters.start > EARLIEST else None
    for width in WINDOWS:
        begin = anchor_ms - width // timedelta(milliseconds=1)
        if start_ms is not None and begin <= start_ms:
            break
        yield replace(filters, start=_EPOCH + timedelta(milliseconds=begin))
    yield filters


def _by_windows(
    store: Store, filters: ReportFilters, scope: Scope, after: Key | None, size: int, now_ms: int
) -> list[Key]:
    anchor = now_ms + 1
    if filters.end < LATEST:
        anchor = min(anchor, epoch_ms(filters.end))
    if after is not None:
        anchor = min(anchor, after.occurred_ms + 1)
    db, table = store.settings.database, store.settings.table
    keys: list[Key] = []
    for window in _windows(filters, anchor):
        q = build_keys_query(
            window, database=db, table=table, scope=scope, after=after, size=size, limits=limits_of(store)
        )
        keys = [Key(int(ms), str(event_id)) for ms, event_id in store.query_rows(q.sql, q.params)]
        if len(keys) >= size:
            break
    return keys
