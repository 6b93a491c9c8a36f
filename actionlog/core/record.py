"""The values that flow through the pipeline, and the one list of the log's columns.

An upstream event becomes a `LogRecord` (accepted) or a `Rejection` (why not). The fields of
`LogRecord`, with the ClickHouse and Avro type each carries in its metadata, are the single
source of the column list: the Avro schema check (`actionlog.core.avro`), the table and view
DDL and the sink's INSERT (`actionlog.store.schema`) all derive from `RECORD_COLUMNS` /
`TABLE_COLUMNS`; nothing else spells the columns out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "INVALID_FIELD",
    "INVALID_TIMESTAMP",
    "MALFORMED_JSON",
    "MISSING_FIELD",
    "REASONS",
    "RECORD_COLUMNS",
    "REFUSED",
    "SET_ASIDE_REASONS",
    "TABLE_COLUMNS",
    "UNDECODABLE",
    "UNKNOWN_SOURCE",
    "Column",
    "LogRecord",
    "Rejection",
]

MALFORMED_JSON = "malformed_json"
"""The value is not one JSON object (invalid UTF-8 or JSON, empty, array, scalar, null)."""
MISSING_FIELD = "missing_field"
"""A required field is absent or null."""
INVALID_TIMESTAMP = "invalid_timestamp"
"""``occurred_at`` is neither RFC 3339 text with an offset nor an integer of epoch ms in range."""
INVALID_FIELD = "invalid_field"
"""A field has the wrong JSON type, is empty where required, too long, or badly formed."""
UNKNOWN_SOURCE = "unknown_source"
"""``source`` is not in the catalog for the topic's Type."""

REASONS: tuple[str, ...] = (MALFORMED_JSON, MISSING_FIELD, INVALID_TIMESTAMP, INVALID_FIELD, UNKNOWN_SOURCE)
"""Every reason code, in precedence order: when several hold, the first one is reported."""

UNDECODABLE = "undecodable"
"""A message on the log topic that is not one of our records, or whose body does not decode."""
REFUSED = "refused"
"""A log record the store refused (the store's error says why)."""
SET_ASIDE_REASONS: tuple[str, ...] = (UNDECODABLE, REFUSED)
"""Why the sink set a log record aside (the set-aside topic's reason codes)."""


def _column(clickhouse: str, avro: str = "string") -> Any:
    return field(metadata={"clickhouse": clickhouse, "avro": avro})


_TEXT = "String"
_LOW = "LowCardinality(String)"


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One accepted action: a row of the event log (Avro ``actionlog.ContentAction``).

    Fields are in the Avro schema's order. Optional values that were absent are ``""``.

    Attributes:
        occurred_at: epoch milliseconds, UTC.
        action_type: one of `actionlog.core.catalog.TYPES`.
        source: canonical source, valid for ``action_type``.
        email: trimmed and lower-cased.
        actor_email: trimmed and lower-cased, ``""`` when absent.
        kafka_topic: topic the upstream message was read from.
        kafka_partition: its partition.
        kafka_offset: its offset.
    """

    event_id: str = _column(_TEXT)
    occurred_at: int = _column("DateTime64(3, 'UTC')", "long")
    action_type: str = _column(_LOW, "enum")
    source: str = _column(_LOW, "enum")
    learner_id: str = _column(_TEXT)
    email: str = _column(_TEXT)
    panorama_id: str = _column(_TEXT)
    panorama_name: str = _column(_TEXT)
    content_id: str = _column(_TEXT)
    content_type: str = _column(_LOW)
    content_title: str = _column(_TEXT)
    course_group_id: str = _column(_TEXT)
    actor_id: str = _column(_TEXT)
    actor_email: str = _column(_TEXT)
    kafka_topic: str = _column(_LOW)
    kafka_partition: int = _column("Int32", "int")
    kafka_offset: int = _column("Int64", "long")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the log table.

    Attributes:
        name: the column name (also the Avro field name when ``avro`` is set).
        clickhouse: its ClickHouse type, with a ``DEFAULT`` clause where the store fills it.
        avro: the Avro kind the record carries it as (``string``, ``long``, ``int``, ``enum``),
            or ``""`` for a column the store fills (``ingested_at``).
    """

    name: str
    clickhouse: str
    avro: str = ""


RECORD_COLUMNS: tuple[Column, ...] = tuple(
    Column(f.name, f.metadata["clickhouse"], f.metadata["avro"]) for f in fields(LogRecord)
)
"""The columns a log record carries, in record (and INSERT) order."""

_INGESTED_AT = Column("ingested_at", "DateTime64(3, 'UTC') DEFAULT now64(3)")
_KAFKA_FIRST = [c.name for c in RECORD_COLUMNS].index("kafka_topic")
TABLE_COLUMNS: tuple[Column, ...] = (*RECORD_COLUMNS[:_KAFKA_FIRST], _INGESTED_AT, *RECORD_COLUMNS[_KAFKA_FIRST:])
"""Every column analysts see, in the documented order: the record's, with ``ingested_at`` (when
the row landed, set by the store) before the three that say where the upstream message was read."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an upstream message was refused; it goes to the dead-letter topic.

    Attributes:
        reason: one of `REASONS` (a stable code).
        detail: human text naming the field (dotted path such as ``learner.email``).
    """

    reason: str
    detail: str
