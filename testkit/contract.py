"""An independent reading of the upstream contract (docs/input.md): what `normalize` must make of
one parsed event, written the plain way (regexes, `datetime`, one rule after the other) and sharing
nothing with `actionlog.processor` but the catalog's table. The property tests compare the two."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from actionlog.core.catalog import SOURCES_BY_TYPE

__all__ = ["MAX_MS", "Accepted", "Refused", "expected_outcome", "reference_ms"]

_EPOCH = datetime(1970, 1, 1)
MAX_MS = (datetime(2300, 1, 1) - _EPOCH) // timedelta(milliseconds=1) - 1
"""2299-12-31T23:59:59.999Z, the last accepted instant."""

# RFC 3339 date-time with ASCII digits only (\d would take any Unicode digit).
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


def reference_ms(text: str) -> int | None:
    """Epoch ms of RFC 3339 text with an offset (fraction truncated), or None when refused."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        local = datetime(year, month, day, hour, minute, second)  # refuses 2026-02-30, 24:00, :60
    except ValueError:
        return None
    offset = timedelta(0)
    if m.group(8) is None:
        off_hours, off_minutes = int(m.group(10)), int(m.group(11))
        if off_hours > 23 or off_minutes > 59:
            return None
        offset = timedelta(hours=off_hours, minutes=off_minutes) * (1 if m.group(9) == "+" else -1)
    ms = (local - _EPOCH - offset) // timedelta(milliseconds=1)
    ms += int(((m.group(7) or ".")[1:] + "000")[:3])
    return ms if 0 <= ms <= MAX_MS else None


@dataclass(frozen=True)
class Accepted:
    """The record's fields (without the Kafka position)."""

    fields: dict[str, Any]


@dataclass(frozen=True)
class Refused:
    """The first reason that holds, and the field it is about (None: the whole value)."""

    reason: str
    path: str | None


_ABSENT = object()
REQUIRED_FIELDS = (
    "event_id",
    "occurred_at",
    "source",
    "learner",
    "learner.id",
    "learner.email",
    "content",
    "content.id",
    "content.type",
    "content.title",
)
#: Every place of an event's fields, as key paths (for strategies that change one of them).
EVENT_PATHS: tuple[tuple[str, ...], ...] = (
    ("event_id",),
    ("occurred_at",),
    ("source",),
    ("learner",),
    ("learner", "id"),
    ("learner", "email"),
    ("panorama",),
    ("panorama", "id"),
    ("panorama", "name"),
    ("content",),
    ("content", "id"),
    ("content", "type"),
    ("content", "title"),
    ("content", "course_group_id"),
    ("actor",),
    ("actor", "id"),
    ("actor", "email"),
)
_LIMIT = 4096


def _lookup(obj: dict[str, Any], path: str) -> tuple[bool, Any]:
    """(whether the parent is an object, the value or `_ABSENT`)."""
    *parents, key = path.split(".")
    node: Any = obj
    for name in parents:
        node = node.get(name)
        if not isinstance(node, dict):
            return False, _ABSENT
    return True, node.get(key, _ABSENT)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= _LIMIT


def _email(value: str) -> str | None:
    """Trimmed, lower-cased; one "@", both sides non-empty, no whitespace or control character."""
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain:
        return None
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in email):
        return None
    return email


def _timestamp(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_MS else None
    if isinstance(value, str):
        return reference_ms(value)
    return None


def _source(action_type: str, raw: str) -> str | None:
    if not raw.isascii():
        return None
    canonical = raw.lower().replace("-", "_")
    return canonical if canonical in SOURCES_BY_TYPE.get(action_type, ()) else None


def _invalid_field(obj: dict[str, Any]) -> str | None:
    """The first field, in document order, that is present but breaks its rule."""

    def value(path: str) -> tuple[bool, Any]:
        return _lookup(obj, path)

    def nonempty(v: Any) -> bool:
        return _is_text(v) and v != ""

    def optional_text(v: Any) -> bool:
        return v is None or _is_text(v)

    def optional_object(v: Any) -> bool:
        return v is None or isinstance(v, dict)

    def email(v: Any) -> bool:
        return _is_text(v) and _email(v) is not None

    def optional_email(v: Any) -> bool:
        return v is None or (_is_text(v) and (not v.strip() or _email(v) is not None))

    rules = (
        ("event_id", lambda v: isinstance(v, str) and 1 <= len(v) <= 128),
        ("source", nonempty),
        ("learner", lambda v: isinstance(v, dict)),
        ("learner.id", nonempty),
        ("learner.email", email),
        ("panorama", optional_object),
        ("panorama.id", optional_text),
        ("panorama.name", optional_text),
        ("content", lambda v: isinstance(v, dict)),
        ("content.id", nonempty),
        ("content.type", _is_text),
        ("content.title", _is_text),
        ("content.course_group_id", optional_text),
        ("actor", optional_object),
        ("actor.id", optional_text),
        ("actor.email", optional_email),
    )
    for path, ok in rules:
        reachable, v = value(path)
        if not reachable:
            continue
        if v is _ABSENT:
            v = None  # only optional fields can be absent here: the required ones were checked
        if not ok(v):
            return path
    return None


def expected_outcome(obj: Any, action_type: str) -> Accepted | Refused:
    """What the contract says about a parsed JSON value that arrived on ``action_type``'s topic."""
    if not isinstance(obj, dict):
        return Refused("malformed_json", None)
    for path in REQUIRED_FIELDS:
        reachable, v = _lookup(obj, path)
        if reachable and (v is _ABSENT or v is None):
            return Refused("missing_field", path)
    ms = _timestamp(obj["occurred_at"])
    if ms is None:
        return Refused("invalid_timestamp", "occurred_at")
    bad = _invalid_field(obj)
    if bad is not None:
        return Refused("invalid_field", bad)
    source = _source(action_type, obj["source"])
    if source is None:
        return Refused("unknown_source", "source")
    learner, content = obj["learner"], obj["content"]
    panorama = obj.get("panorama") or {}
    actor = obj.get("actor") or {}
    actor_email = (actor.get("email") or "").strip()
    return Accepted(
        {
            "event_id": obj["event_id"],
            "occurred_at": ms,
            "action_type": action_type,
            "source": source,
            "learner_id": learner["id"],
            "email": _email(learner["email"]),
            "panorama_id": panorama.get("id") or "",
            "panorama_name": panorama.get("name") or "",
            "content_id": content["id"],
            "content_type": content["type"].lower(),
            "content_title": content["title"],
            "course_group_id": content.get("course_group_id") or "",
            "actor_id": actor.get("id") or "",
            "actor_email": _email(actor_email) if actor_email else "",
        }
    )
