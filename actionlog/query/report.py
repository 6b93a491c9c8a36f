"""The report's I/O edge: run the built statement on a store and yield the body in big chunks.

One generator serves the CLI, the HTTP endpoint, the page's downloads and the export job, so
their bodies are byte-identical for the same filters. Rows are never held in Python: ClickHouse
formats them and we pass `actionlog.store.STREAM_CHUNK`-sized chunks on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from actionlog.core.scope import Scope
from actionlog.query.filters import ReportFilters
from actionlog.query.framing import Framer, RowCounter
from actionlog.query.narrow import candidates_within
from actionlog.query.seek import find_keys, limits_of
from actionlog.query.sql import MAX_PAGE_ROWS, build_count_query, build_report_query, clickhouse_format
from actionlog.store import Store, read_all

__all__ = ["LandingWindow", "count_rows", "counted", "framed", "limits_of", "report_chunks", "report_rows"]


@dataclass(frozen=True)
class LandingWindow:
    """Only the rows that landed in ``after_ms < ingested_at <= until_ms`` (epoch ms)."""

    after_ms: int
    until_ms: int


def report_rows(
    store: Store, filters: ReportFilters, scope: Scope, window: LandingWindow | None = None
) -> Iterator[bytes]:
    """Yield the statement's raw ClickHouse output (``CSV`` or ``JSONEachRow``, no header, no framing).

    A report of at most `MAX_PAGE_ROWS` rows is found the way a page is (`find_keys`), then read
    by its keys; a longer one is one statement, narrowed by the filter keys when its filters have
    some (`candidates_within`). A landing ``window`` (the export job) is never narrowed: a row
    whose keys were still being written when it was read would be missed for good.

    Raises:
        StoreError: the store failed (before or while streaming).
    """
    db, table = store.settings.database, store.settings.table
    limits = limits_of(store)
    if window is None and filters.limit is not None and filters.limit <= MAX_PAGE_ROWS:
        keys = find_keys(store, filters, scope, after=None, size=filters.limit, now_ms=int(time.time() * 1000))
        q = build_report_query(filters, database=db, table=table, scope=scope, page=keys, limits=limits)
    else:
        q = build_report_query(
            filters,
            database=db,
            table=table,
            scope=scope,
            ingested_after_ms=window.after_ms if window else None,
            ingested_until_ms=window.until_ms if window else None,
            within=None if window else candidates_within(filters, database=db, table=table, scope=scope),
            limits=limits,
        )
    yield from read_all(store, q.sql, q.params, clickhouse_format(filters.fmt))


def count_rows(store: Store, filters: ReportFilters, scope: Scope) -> int:
    """How many rows the report of ``filters`` holds for ``scope`` (``limit`` ignored)."""
    db, table = store.settings.database, store.settings.table
    within = candidates_within(filters, database=db, table=table, scope=scope)
    q = build_count_query(filters, database=db, table=table, scope=scope, within=within, limits=limits_of(store))
    return int(store.query_rows(q.sql, q.params)[0][0])


def framed(chunks: Iterator[bytes], framer: Framer) -> Iterator[bytes]:
    """The body around raw output chunks. The first chunk is read before anything is yielded, so a
    query that fails up front fails before any byte of the body exists."""
    first = next(chunks, b"")
    head = framer.start()
    if head:
        yield head
    if first:
        yield framer.feed(first)
    for chunk in chunks:
        out = framer.feed(chunk)
        if out:
            yield out
    tail = framer.finish()
    if tail:
        yield tail


def report_chunks(
    store: Store, filters: ReportFilters, scope: Scope, counter: RowCounter | None = None
) -> Iterator[bytes]:
    """Yield the complete report body for ``filters`` as ``scope`` sees it (blocking; run it in a
    thread of its own). ``counter``, when given, counts the rows as they pass."""
    return framed(counted(report_rows(store, filters, scope), counter), Framer(filters.fmt, count_rows=False))


def counted(chunks: Iterator[bytes], counter: RowCounter | None) -> Iterator[bytes]:
    """The chunks as they are, counted by ``counter`` (when there is one) as they pass."""
    for chunk in chunks:
        if counter is not None:
            counter.feed(chunk)
        yield chunk
