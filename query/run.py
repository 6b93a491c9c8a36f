"""The report's I/O edge: run the built statement on a store and yield the body in big chunks.

One generator serves the CLI and the HTTP endpoint, so their bodies are byte-identical for the
same filters. Rows are never held in Python: ClickHouse formats them, we pass 1 MiB chunks on.
"""

from __future__ import annotations

from collections.abc import Iterator

from query.filters import ReportFilters
from query.output import Framer
from query.sql import build_report_query, clickhouse_format
from sink.store import Store

CHUNK = 1 << 20


def report_chunks(store: Store, filters: ReportFilters) -> Iterator[bytes]:
    """Yield the complete report body for ``filters`` (blocking; run it in a thread of its own).

    Raises:
        StoreError: the store failed (before or while streaming).
    """
    q = build_report_query(filters, database=store.settings.database, table=store.settings.table)
    framer = Framer(filters.fmt, count_rows=False)  # exact row counting is not free: skip it
    with store.stream(q.sql, q.params, clickhouse_format(filters.fmt)) as stream:
        chunk = stream.read(CHUNK)  # the query fails here, if it fails: before we emit anything
        head = framer.start()
        if head:
            yield head
        while chunk:
            out = framer.feed(chunk)
            if out:
                yield out
            chunk = stream.read(CHUNK)
    tail = framer.finish()
    if tail:
        yield tail
