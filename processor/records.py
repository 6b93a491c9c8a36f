"""Value types of the normalizer: an accepted event (`LogRecord`) or why one was refused (`Rejection`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "INVALID_FIELD",
    "INVALID_TIMESTAMP",
    "MALFORMED_JSON",
    "MISSING_FIELD",
    "REASONS",
    "UNKNOWN_SOURCE",
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


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One accepted action: a row of the event log (Avro ``actionlog.ContentAction``).

    Fields are in the Avro schema's order. Optional values that were absent are ``""``.

    Attributes:
        occurred_at: epoch milliseconds, UTC.
        action_type: one of `actionlog.catalog.TYPES`.
        source: canonical source, valid for ``action_type``.
        email: trimmed and lower-cased.
        actor_email: trimmed and lower-cased, ``""`` when absent.
        kafka_topic: topic the upstream message was read from.
        kafka_partition: its partition.
        kafka_offset: its offset.
    """

    event_id: str
    occurred_at: int
    action_type: str
    source: str
    learner_id: str
    email: str
    panorama_id: str
    panorama_name: str
    content_id: str
    content_type: str
    content_title: str
    course_group_id: str
    actor_id: str
    actor_email: str
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an upstream message was refused; it goes to the dead-letter topic.

    Attributes:
        reason: one of `REASONS` (a stable code).
        detail: human text naming the field (dotted path such as ``learner.email``).
    """

    reason: str
    detail: str
