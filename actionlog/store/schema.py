"""DDL of the log table and the analysts' view, derived from the record's columns.

One row per event_id as seen through FINAL: ``ReplacingMergeTree`` collapses rows with the same
sorting key (occurred_at, event_id). The version keeps the FIRST landed copy (the largest
``_version`` is the smallest ``ingested_at``), so a duplicate that lands later never changes
what was reported or exported (docs/guarantees.md).
"""

from __future__ import annotations

from typing import Protocol

from actionlog.core.record import RECORD_COLUMNS, TABLE_COLUMNS
from actionlog.store.sqltext import qualified, quote_identifier

__all__ = ["INSERT_COLUMNS", "VIEW_SUFFIX", "ensure_log_schema", "log_table_ddl", "log_view_ddl"]

INSERT_COLUMNS: tuple[str, ...] = tuple(c.name for c in RECORD_COLUMNS)
"""What the sink inserts, in record order (``ingested_at`` is the store's)."""
VIEW_SUFFIX = "_dedup"

_EXTRA = """\
    _version UInt64 MATERIALIZED toUInt64(9000000000000000) - toUInt64(toUnixTimestamp64Milli(ingested_at)),
    INDEX idx_panorama_id panorama_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_panorama_name lowerUTF8(panorama_name) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_learner_id learner_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_email email TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_ingested_at ingested_at TYPE minmax GRANULARITY 1"""

_ENGINE = """\
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 10000"""


class _Commands(Protocol):
    def command(self, sql: str, parameters: dict[str, object] | None = None) -> object: ...


def log_table_ddl(database: str, table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of the log table."""
    columns = ",\n".join(f"    {c.name} {c.clickhouse}" for c in TABLE_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {qualified(database, table)}\n(\n{columns},\n{_EXTRA}\n)\n{_ENGINE}\n"


def log_view_ddl(database: str, table: str) -> str:
    """``CREATE VIEW IF NOT EXISTS`` of the deduplicated view ``<table>_dedup`` (``... FINAL``)."""
    view = qualified(database, table + VIEW_SUFFIX)
    columns = ", ".join(c.name for c in TABLE_COLUMNS)
    return f"CREATE VIEW IF NOT EXISTS {view} AS\nSELECT {columns}\nFROM {qualified(database, table)} FINAL\n"


def ensure_log_schema(store: _Commands, database: str, table: str) -> None:
    """Create the database, the log table and the analysts' view if missing (idempotent)."""
    store.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database, 'database')}")
    store.command(log_table_ddl(database, table))
    store.command(log_view_ddl(database, table))
