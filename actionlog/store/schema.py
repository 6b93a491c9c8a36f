"""DDL of the log table and the analysts' view, derived from the record's columns.

One row per event_id as seen through FINAL: ``ReplacingMergeTree`` collapses rows with the same
sorting key (occurred_at, event_id). The version keeps the FIRST landed copy (the largest
``_version`` is the smallest ``ingested_at``), so a duplicate that lands later never changes
what was reported or exported (docs/guarantees.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from actionlog.core.record import RECORD_COLUMNS, TABLE_COLUMNS
from actionlog.store.sqltext import qualified, quote_identifier

__all__ = [
    "CONTENTS",
    "FILTER_KEYS",
    "INSERT_COLUMNS",
    "KEY_ATTRIBUTES",
    "KEY_FAMILIES",
    "LEARNER_PARAMETERS",
    "MAX_PARTITIONS_PER_INSERT",
    "PANORAMAS",
    "VIEW_SUFFIX",
    "LearnerTable",
    "apply_retention",
    "dimension_ddl",
    "dimension_orphans",
    "ensure_log_schema",
    "filter_keys_ddl",
    "learner_tables",
    "log_table_ddl",
    "log_view_ddl",
    "partition_of",
    "retention_ttl",
]

INSERT_COLUMNS: tuple[str, ...] = tuple(c.name for c in RECORD_COLUMNS)
"""What the sink inserts, in record order (``ingested_at`` is the store's)."""
VIEW_SUFFIX = "_dedup"

_EXTRA = """\
    _version UInt64 MATERIALIZED toUInt64(9000000000000000) - toUInt64(toUnixTimestamp64Milli(ingested_at)),
    INDEX idx_ingested_at ingested_at TYPE minmax GRANULARITY 1"""

#: Small granules: a report restricted to a set of instants (`FILTER_KEYS`) reads about one
#: granule per instant, so the granule's size is what such a read costs (docs/performance.md).
INDEX_GRANULARITY = 256
_ENGINE = f"""\
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = {INDEX_GRANULARITY},
    min_compress_block_size = 8192, max_compress_block_size = 65536"""


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


PANORAMAS = "panoramas"
"""Dimension table: every (panorama id, name) pair the log holds, and when it was last seen."""
CONTENTS = "contents"
"""Dimension table: every (panorama, content, title, type, course group) the log holds, and when
it was last seen (so a client's choice lists hold only its own contents)."""

_DIMENSIONS: dict[str, tuple[str, str, str]] = {
    # name: (columns, ORDER BY, SELECT over the log)
    PANORAMAS: (
        "panorama_id String, panorama_name String, last_seen DateTime64(3, 'UTC')",
        "(panorama_id, panorama_name)",
        "SELECT panorama_id, panorama_name, occurred_at AS last_seen FROM {log} WHERE panorama_id != ''",
    ),
    CONTENTS: (
        "panorama_id String, content_id String, content_title String, content_type LowCardinality(String),"
        " course_group_id String, last_seen DateTime64(3, 'UTC')",
        "(panorama_id, content_id, content_title, content_type, course_group_id)",
        "SELECT panorama_id, content_id, content_title, content_type, course_group_id, occurred_at AS last_seen"
        " FROM {log}",
    ),
}


DIMENSIONS: tuple[str, ...] = tuple(_DIMENSIONS)


def dimension_ddl(database: str, table: str, name: str) -> tuple[str, str, str]:
    """(table DDL, materialized view DDL, backfill INSERT) of the dimension ``name``.

    A dimension is a small ``ReplacingMergeTree`` that follows the log through a materialized
    view (it sees every block inserted into the log), so choice lists and scope checks never
    scan the log. Duplicates collapse by the sorting key; reads use FINAL or GROUP BY.
    """
    columns, order_by, select = _DIMENSIONS[name]
    log = qualified(database, table)
    target = qualified(database, f"{table}_{name}")
    view = qualified(database, f"{table}_{name}_mv")
    version = "last_seen" if "last_seen" in columns else ""
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {target} ({columns})\n"
        f"ENGINE = ReplacingMergeTree({version})\nORDER BY {order_by}\n"
    )
    mv = f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} TO {target} AS\n{select.format(log=log)}\n"
    backfill = f"INSERT INTO {target}\n{select.format(log=log)}\n"
    return ddl, mv, backfill


FILTER_KEYS = "filter_keys"
"""The narrowing table ``<table>_filter_keys``: for every row landed in the log (every copy of an
event, the losing ones too), one row per filter key it can be found by: ``k`` (a family prefix
and the value, e.g. ``l:u-42``), its ``occurred_at``, and some attributes to pre-filter by. It
only narrows the instants a report reads; the rows themselves always come from the log read
with FINAL and every filter checked again (`actionlog.query.narrow`). A plain MergeTree, not a
Replacing one: two copies of an event with different values keep both their keys.

Whatever removes rows from the log (retention, erasure) removes them here too: same partitions
(by month of ``occurred_at``); a key left behind is harmless (its row fails the re-check), a
key missing hides its row from filtered reports, so a write into the log that bypasses the
materialized view (``ATTACH PARTITION``, a restore) needs the backfill of `filter_keys_ddl`.
"""

#: Granules of the filter keys: a key's newest instants are read from the end of its range in
#: every part, at least a granule per part; 1,024-row granules read 8 times less than the
#: default 8,192 (measured in docs/performance.md, Earlier figures). A store made before keeps its
#: 8,192-row granules (a table's granularity cannot be altered); reports stay correct on it.
KEYS_INDEX_GRANULARITY = 1024

#: Key families: prefix → the expression over a log row (the query side folds values the same way).
KEY_FAMILIES: dict[str, str] = {
    "l:": "learner_id",
    "e:": "lowerUTF8(email)",
    "c:": "content_id",
    "g:": "course_group_id",
    "p:": "panorama_id",
    "n:": "lowerUTF8(panorama_name)",
    "t:": "concat(action_type, '/', source)",
}
#: Columns of the log copied beside each key, so that combined filters and the caller's scope
#: pre-filter the candidates with the same expressions the report uses.
KEY_ATTRIBUTES: tuple[str, ...] = (
    "panorama_id",
    "panorama_name",
    "action_type",
    "source",
    "content_type",
    "course_group_id",
)


def filter_keys_ddl(database: str, table: str) -> tuple[str, str, str]:
    """(table DDL, materialized view DDL, backfill INSERT) of `FILTER_KEYS`. Empty values (a
    row of the main site has no panorama) get no key: no filter value is empty."""
    log = qualified(database, table)
    target = qualified(database, f"{table}_{FILTER_KEYS}")
    view = qualified(database, f"{table}_{FILTER_KEYS}_mv")
    attributes = ",\n    ".join(f"{c} LowCardinality(String)" for c in KEY_ATTRIBUTES)
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {target}\n(\n    k String,\n"
        "    occurred_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),\n"
        f"    {attributes}\n)\n"
        "ENGINE = MergeTree\nPARTITION BY toYYYYMM(occurred_at)\nORDER BY (k, occurred_at)\n"
        f"SETTINGS index_granularity = {KEYS_INDEX_GRANULARITY}\n"
    )
    keys = ", ".join(f"concat('{prefix}', {expr})" for prefix, expr in KEY_FAMILIES.items())
    select = (
        f"SELECT k, occurred_at, {', '.join(KEY_ATTRIBUTES)}\nFROM {log}\n"
        f"ARRAY JOIN arrayFilter(x -> length(x) > 2, [{keys}]) AS k"
    )
    mv = f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} TO {target} AS\n{select}\n"
    return ddl, mv, f"INSERT INTO {target}\n{select}\n"


class _Reads(_Commands, Protocol):
    def query_rows(self, sql: str, parameters: dict[str, object] | None = None) -> list[tuple[object, ...]]: ...


def ensure_log_schema(store: _Reads, database: str, table: str) -> None:
    """Create the database, the log table, the analysts' view, the dimension tables and the filter
    keys with their materialized views if missing (idempotent). A table created beside a log that
    already holds rows is filled from it once, after its view exists (rows landing meanwhile may
    be written twice: dimensions collapse them, and a key twice is the same key)."""
    store.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database, 'database')}")
    store.command(log_table_ddl(database, table))
    store.command(log_view_ddl(database, table))
    followers = {name: dimension_ddl(database, table, name) for name in _DIMENSIONS}
    followers[FILTER_KEYS] = filter_keys_ddl(database, table)
    for name, (ddl, mv, backfill) in followers.items():
        exists = store.query_rows(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {name:String}",
            {"db": database, "name": f"{table}_{name}_mv"},
        )
        store.command(ddl)
        if not int(exists[0][0]):  # type: ignore[call-overload]
            store.command(mv)
            store.command(backfill)


LEARNER_PARAMETERS = "{ids:Array(String)}, {emails:Array(String)}, {needles:Array(String)}"
"""The parameters every condition of `learner_tables` may use: the learner's ids, its emails
(lower-cased, as stored) and ``needles`` (each id and email as a JSON string, for JSON columns)."""

_MENTIONS = "multiSearchAnyCaseInsensitiveUTF8(filters, {needles:Array(String)})"
_ERASED_FILTERS = "'{\"(erased)\":[]}'"


@dataclass(frozen=True)
class LearnerTable:
    """A table that holds a learner's personal data, and how erasure treats it.

    Attributes:
        table: the table's name in the database.
        where: the condition that picks the learner's rows (parameters: `LEARNER_PARAMETERS`).
        redact: None: the rows are deleted; else the ``UPDATE`` assignment that keeps the row
            (an audit of who read what) without the learner in it.
    """

    table: str
    where: str
    redact: str | None = None


def learner_tables(table: str) -> tuple[LearnerTable, ...]:
    """Every table that can hold a learner's id or email: THE list erasure works through.

    A table added later that holds learner data (a filter-key table, a new audit) is one line
    here; the dimension tables hold none (see `dimension_orphans`).
    """
    return (
        LearnerTable(table, "learner_id IN {ids:Array(String)} OR email IN {emails:Array(String)}"),
        # The narrowing keys of the learner's rows (their other keys hold nothing personal, and
        # a key whose row is gone only adds an instant the report's re-check rejects).
        LearnerTable(
            f"{table}_{FILTER_KEYS}",
            "k IN arrayConcat(arrayMap(x -> concat('l:', x), {ids:Array(String)}),"
            " arrayMap(x -> concat('e:', x), {emails:Array(String)}))",
        ),
        # The audit of HTTP reads and the export runs keep their rows; filters naming the learner go.
        LearnerTable("access_log", _MENTIONS, redact=f"filters = {_ERASED_FILTERS}"),
        LearnerTable("export_runs", _MENTIONS, redact=f"filters = {_ERASED_FILTERS}"),
    )


def dimension_orphans(database: str, table: str, name: str) -> tuple[str, str]:
    """(count, delete) statements of the entries of dimension ``name`` that only the learner's rows
    of the log hold (a content or panorama name nobody else was seen with), to run BEFORE the
    learner's rows are deleted from the log. Conditions as in `learner_tables`."""
    _, order_by, _ = _DIMENSIONS[name]
    log = qualified(database, table)
    target = qualified(database, f"{table}_{name}")
    learner = learner_tables(table)[0].where
    where = (
        f"{order_by} IN (SELECT {order_by[1:-1]} FROM {log} WHERE {learner})"
        f" AND {order_by} NOT IN (SELECT {order_by[1:-1]} FROM {log} WHERE NOT ({learner})"
        f" AND {order_by} IN (SELECT {order_by[1:-1]} FROM {log} WHERE {learner}))"
    )
    return (
        f"SELECT count() FROM {target} WHERE {where}",
        f"ALTER TABLE {target} DELETE WHERE {where} SETTINGS mutations_sync = 2",
    )


def retention_ttl(table_engine: str, days: int | None) -> str | None:
    """The ``ALTER TABLE`` clause that makes the log table's TTL ``days`` (None: no TTL), or None
    when ``table_engine`` (``engine_full`` of system.tables) already says so."""
    has_ttl = " TTL " in f" {table_engine} "
    if days is None:
        return "REMOVE TTL" if has_ttl else None
    wanted = f"TTL occurred_at + toIntervalDay({days})"
    if wanted in table_engine:
        return None
    return f"MODIFY TTL occurred_at + INTERVAL {int(days)} DAY"


def apply_retention(store: _Reads, database: str, table: str, days: int | None) -> bool:
    """Make the log table's TTL follow ``ACTIONLOG_RETENTION_DAYS``; whether it changed.

    A changed TTL is applied to the parts already there by ClickHouse (a mutation, once)."""
    rows = store.query_rows(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {name:String}",
        {"db": database, "name": table},
    )
    clause = retention_ttl(str(rows[0][0]) if rows else "", days)
    if clause is None:
        return False
    store.command(f"ALTER TABLE {qualified(database, table)} {clause}")
    return True


#: The table's partitions are months of ``occurred_at`` in UTC (``PARTITION BY toYYYYMM(occurred_at)``).
#: ClickHouse refuses an INSERT block that touches more than ``max_partitions_per_insert_block``
#: of them; the sink pins that setting to this value and splits its blocks to respect it.
MAX_PARTITIONS_PER_INSERT = 100


def partition_of(occurred_at_ms: int) -> int:
    """The table partition (``toYYYYMM(occurred_at)``, as YYYYMM) of an instant in epoch ms."""
    days = occurred_at_ms // 86_400_000
    # Civil date from days since 1970-01-01 (H. Hinnant's algorithm), proleptic Gregorian.
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year * 100 + month
