"""The report's I/O edge: run the built statement on a store and yield the body in big chunks.

One generator serves the CLI, the HTTP endpoint, the page's downloads and the export job, so
their bodies are byte-identical for the same filters. Rows are never held in Python: ClickHouse
formats them and we pass `actionlog.store.STREAM_CHUNK`-sized chunks on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from actionlog.core.scope import Scope
from actionlog.query.filters import ReportFilters
from actionlog.query.framing import Framer, RowCounter
from actionlog.query.sql import QueryLimits, build_report_query, clickhouse_format
from actionlog.store import Store, read_all

__all__ = ["LandingWindow", "counted", "framed", "limits_of", "report_chunks", "report_rows"]


def limits_of(store: Store) -> QueryLimits:
    """The limits every report statement run on ``store`` carries (``ACTIONLOG_CLICKHOUSE_QUERY_MAX_*``)."""
    return QueryLimits(store.settings.query_max_seconds, store.settings.query_max_memory)


@dataclass(frozen=True)
class LandingWindow:
    """Only the rows that landed in ``after_ms < ingested_at <= until_ms`` (epoch ms)."""

    after_ms: int
    until_ms: int


def report_rows(
    store: Store, filters: ReportFilters, scope: Scope, window: LandingWindow | None = None
) -> Iterator[bytes]:
    """Yield the statement's raw ClickHouse output (``CSV`` or ``JSONEachRow``, no header, no framing).

    Raises:
        StoreError: the store failed (before or while streaming).
    """
    q = build_report_query(
        filters,
        database=store.settings.database,
        table=store.settings.table,
        scope=scope,
        ingested_after_ms=window.after_ms if window else None,
        ingested_until_ms=window.until_ms if window else None,
        limits=limits_of(store),
    )
    yield from read_all(store, q.sql, q.params, clickhouse_format(filters.fmt))


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
