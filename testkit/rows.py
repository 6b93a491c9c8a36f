"""Rows as the sink writes them, landed straight into a store (for report and export tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.schema import INSERT_COLUMNS, ensure_log_schema

__all__ = ["land", "row"]

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
