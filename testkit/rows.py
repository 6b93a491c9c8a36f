"""Rows as the sink writes them, landed straight into a store (for report and export tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.schema import INSERT_COLUMNS, ensure_log_schema

__all__ = ["land", "land_many", "row"]

_DEFAULTS: dict[str, Any] = {
    "event_id": "e-1",
    "occurred_at": 1_793_711_106_123,
    "action_type": "enrollment",
    "source": "sso",
    "learner_id": "u-1",
    "email": "a@example.com",
    "panorama_id": "",
    "panorama_name": "",
    "content_id": "c-1",
    "content_type": "course",
    "content_title": "t",
    "course_group_id": "",
    "actor_id": "",
    "actor_email": "",
    "kafka_topic": "t",
    "kafka_partition": 0,
    "kafka_offset": 0,
}
assert tuple(_DEFAULTS) == INSERT_COLUMNS


def row(**values: Any) -> dict[str, Any]:
    """A complete row: ``values`` over neutral defaults (``occurred_at``, and ``ingested_at`` when
    given, in epoch ms; without ``ingested_at`` the store stamps the row when it lands)."""
    unknown = set(values) - set(_DEFAULTS) - {"ingested_at"}
    if unknown:
        raise TypeError(f"not columns: {sorted(unknown)}")
    return {**_DEFAULTS, **values}


def land(store: ClickHouseStore, rows: Sequence[dict[str, Any]], *, schema: bool = True) -> None:
    """Insert ``rows`` (dicts of any columns; defaults fill the rest) as one block, i.e. one part."""
    if schema:
        ensure_log_schema(store, store.settings.database, store.settings.table)
    full = [row(**r) for r in rows]
    if not full:
        return
    columns = [*INSERT_COLUMNS, "ingested_at"] if "ingested_at" in full[0] else list(INSERT_COLUMNS)
    store.client.insert(
        store.settings.table,
        [[r[c] for c in columns] for r in full],
        column_names=columns,
        database=store.settings.database,
    )


def land_many(store: ClickHouseStore, n: int, *, start_ms: int, title_bytes: int = 100, prefix: str = "bulk") -> None:
    """Land ``n`` generated rows in one statement (fast, for big stores): event ids
    ``<prefix>-<i>``, one millisecond apart from ``start_ms``, titles of ``title_bytes`` bytes."""
    ensure_log_schema(store, store.settings.database, store.settings.table)
    values = {
        "event_id": "concat({prefix:String}, '-', toString(number))",
        "occurred_at": "fromUnixTimestamp64Milli(toInt64({start_ms:Int64} + number), 'UTC')",
        "content_title": "concat(toString(number), ' ', repeat('t', {title_bytes:UInt32}))",
        "email": "concat('learner', toString(number % 5000), '@example.com')",
        "learner_id": "concat('u-', toString(number % 5000))",
        "panorama_id": "concat('p-', toString(number % 20))",
        "panorama_name": "concat('Panorama ', toString(number % 20))",
    }
    columns = list(INSERT_COLUMNS)
    select = ", ".join(values.get(c, _literal(_DEFAULTS[c])) for c in columns)
    store.command(
        f"INSERT INTO {store.log_table} ({', '.join(columns)}) SELECT {select} FROM numbers({{n:UInt64}})",
        {"n": n, "prefix": prefix, "start_ms": start_ms, "title_bytes": max(0, title_bytes - 8)},
    )


def _literal(value: Any) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
