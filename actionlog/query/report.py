"""The report's I/O edge: run the built statement on a store and yield the body in big chunks.

One generator serves the CLI, the HTTP endpoint, the page's downloads and the export job, so
their bodies are byte-identical for the same filters. Rows are never held in Python: ClickHouse
formats them and we pass `actionlog.store.STREAM_CHUNK`-sized chunks on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from actionlog.query.filters import ReportFilters
from actionlog.query.framing import Framer
from actionlog.query.sql import build_report_query, clickhouse_format
from actionlog.store import Store, read_all

__all__ = ["LandingWindow", "framed", "report_chunks", "report_rows"]


@dataclass(frozen=True)
class LandingWindow:
    """Only the rows that landed in ``after_ms < ingested_at <= until_ms`` (epoch ms)."""

    after_ms: int
    until_ms: int


def report_rows(store: Store, filters: ReportFilters, window: LandingWindow | None = None) -> Iterator[bytes]:
    """Yield the statement's raw ClickHouse output (``CSV`` or ``JSONEachRow``, no header, no framing).

    Raises:
        StoreError: the store failed (before or while streaming).
    """
    q = build_report_query(
        filters,
        database=store.settings.database,
        table=store.settings.table,
        ingested_after_ms=window.after_ms if window else None,
        ingested_until_ms=window.until_ms if window else None,
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


def report_chunks(store: Store, filters: ReportFilters) -> Iterator[bytes]:
    """Yield the complete report body for ``filters`` (blocking; run it in a thread of its own)."""
    return framed(report_rows(store, filters), Framer(filters.fmt, count_rows=False))
