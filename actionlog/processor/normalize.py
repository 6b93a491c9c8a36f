"""Validate and normalize one upstream JSON event (docs/input.md) into a `LogRecord`.

`normalize` never raises: any input (bytes or None) gives a `LogRecord` or a `Rejection`.
It first runs a straight-line *fast path* that only accepts; when anything looks wrong
it hands the parsed object to `diagnose`, which checks the rules category by category
in the contract's precedence order (malformed_json, missing_field, invalid_timestamp,
invalid_field, unknown_source) and reports the first problem, naming the field by its
dotted path (``learner.email``). Both paths use the same primitives, and property
tests check they agree. The fast path is the processor's hot loop: it avoids
exceptions, regexes on repeated values (bounded caches) and the frozen dataclass's
slow ``__init__``.

Decisions on points the contract leaves open:

* **JSON**: one object, parsed by orjson: invalid UTF-8, lone surrogates, NaN/Infinity
  and nesting deeper than orjson's limit are ``malformed_json``. Duplicate keys are
  accepted, the *last* value wins (RFC 8259 leaves this open; detecting them would
  need a second parser on the hot path).
* **missing vs. invalid**: absent or ``null`` required fields are ``missing_field``;
  a nested required field (``learner.id``) is only "missing" when its parent is an
  object; a parent of the wrong type is ``invalid_field`` on the parent.
* **occurred_at**: RFC 3339 text with an offset (exact rules in `actionlog.processor.timestamps`:
  fraction truncated to ms, no leap second, 1970-01-01 .. 2299-12-31 UTC), or an
  integer of epoch ms in the same range. ``true``/``false``, floats (``1.7e12``,
  ``1700000000000.0``), integers beyond 64 bits (orjson reads them as floats) and any
  other JSON type are ``invalid_timestamp``.
* **strings**: at most 4,096 characters (code points) as sent, ``event_id`` at most
  128. Only ``email``/``actor.email`` are trimmed. ``event_id``, ``learner.id``,
  ``content.id`` and ``source`` must be non-empty; ``content.type`` and
  ``content.title`` may be empty strings. An empty ``source`` is ``invalid_field``
  (empty where required), any other non-catalog value ``unknown_source``.
* **email**: trimmed (Unicode whitespace) and lower-cased, then exactly one ``@``
  with a non-empty local part and domain, and no whitespace or control character.
* **panorama**, **actor**: absent or ``null`` → ``""`` for their fields; otherwise
  must be an object (else ``invalid_field``); their fields are optional strings
  (``null`` → ``""``). ``actor.email`` is normalized like ``email`` when, after
  trimming, it is non-empty (else ``""``); a malformed one is ``invalid_field``.
* ``content.course_group_id``: optional string, ``null`` → ``""``.
* **action_type** outside `actionlog.core.catalog.TYPES`: every source is ``unknown_source``.
* Details echo the offending value only for ``occurred_at`` and ``source`` (shortened);
  emails and ids are never echoed.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

import orjson

from actionlog.core.catalog import lookup_source
from actionlog.core.record import (
    INVALID_FIELD,
    INVALID_TIMESTAMP,
    MALFORMED_JSON,
    MISSING_FIELD,
    UNKNOWN_SOURCE,
    LogRecord,
    Rejection,
)
from actionlog.processor.timestamps import (
    CACHE_SIZE,
    MAX_OCCURRED_AT_MS,
    MIN_OCCURRED_AT_MS,
    parse_occurred_at,
    rfc3339_shape,
    rfc3339_without_offset,
)

__all__ = [
    "MAX_EVENT_ID_LENGTH",
    "MAX_OCCURRED_AT_MS",
    "MAX_STRING_LENGTH",
    "MIN_OCCURRED_AT_MS",
    "diagnose",
    "normalize",
    "normalize_email",
    "parse_occurred_at",
]

MAX_STRING_LENGTH = 4096
MAX_EVENT_ID_LENGTH = 128

_MAX = MAX_STRING_LENGTH

# LogRecord is a frozen dataclass: its __init__ sets each field through object.__setattr__,
# which costs twice as much as setting the slots directly, as the fast path does.
_new = object.__new__
(_s0, _s1, _s2, _s3, _s4, _s5, _s6, _s7, _s8, _s9, _s10, _s11, _s12, _s13, _s14, _s15, _s16) = (
    getattr(LogRecord, f.name).__set__ for f in fields(LogRecord)
)
_loads = orjson.loads
# No "@", whitespace or control character (Unicode Cc: C0, DEL and C1) on either side of the "@".
_email_fullmatch = re.compile(r"[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+").fullmatch
# Raw learner email -> normalized one (valid ones only); learners recur, so this saves most work.
# Only addresses of a plausible length are kept, so a flood of huge values cannot fill memory.
_email_cache: dict[str, str] = {}
_CACHED_EMAIL_MAX = 320


def normalize_email(raw: str) -> str | None:
    """Trim and lower-case an address; None if it does not look like one."""
    email = raw.strip().lower()
    return email if _email_fullmatch(email) is not None else None


def normalize(
    value: bytes | None, action_type: str, *, topic: str, partition: int, offset: int
) -> LogRecord | Rejection:
    """Turn one upstream message value into a `LogRecord`, or say why not.

    Args:
        value: the Kafka message value (None for a tombstone).
        action_type: the Type the message's topic stands for.
        topic: topic the message was read from (copied to the record).
        partition: its partition.
        offset: its offset.

    Returns:
        The normalized record, or a `Rejection` with the first reason that holds.
        Never raises.
    """
    if not value:
        return Rejection(MALFORMED_JSON, "empty message" if value is not None else "message has no value")
    try:
        obj = _loads(value)
    except Exception as exc:  # orjson.JSONDecodeError, TypeError for an odd value type
        return Rejection(MALFORMED_JSON, f"not valid UTF-8 JSON: {_short(str(exc), 200)}")
    if type(obj) is not dict:
        return Rejection(MALFORMED_JSON, f"expected one JSON object, got {_kind(obj)}")
    # From here on, the fast path: straight-line checks that only accept. At the first
    # doubt, `_refused` runs the rules in precedence order to say why.
    get = obj.get
    event_id = get("event_id")
    source = get("source")
    learner = get("learner")
    content = get("content")
    if type(event_id) is not str or type(source) is not str or type(learner) is not dict or type(content) is not dict:
        return _refused(obj, action_type)
    if not event_id or len(event_id) > MAX_EVENT_ID_LENGTH:
        return _refused(obj, action_type)
    occurred = get("occurred_at")
    if type(occurred) is str:
        ms = parse_occurred_at(occurred)
        if ms is None:
            return _refused(obj, action_type)
    elif type(occurred) is int and MIN_OCCURRED_AT_MS <= occurred <= MAX_OCCURRED_AT_MS:
        ms = occurred
    else:
        return _refused(obj, action_type)
    canonical = lookup_source(action_type, source)
    if canonical is None:
        return _refused(obj, action_type)

    learner_id = learner.get("id")
    email = learner.get("email")
    content_id = content.get("id")
    content_type = content.get("type")
    title = content.get("title")
    if (
        type(learner_id) is not str
        or type(email) is not str
        or type(content_id) is not str
        or type(content_type) is not str
        or type(title) is not str
        or not learner_id
        or not content_id
    ):
        return _refused(obj, action_type)
    group = content.get("course_group_id")
    if group is None:
        group = ""
    elif type(group) is not str:
        return _refused(obj, action_type)

    pair = _optional_pair(get("panorama"), "id", "name")
    if pair is None:
        return _refused(obj, action_type)
    panorama_id, panorama_name = pair
    pair = _optional_pair(get("actor"), "id", "email")
    if pair is None:
        return _refused(obj, action_type)
    actor_id, actor_email = pair

    # A JSON string takes at least as many bytes as it has characters: in a message of at
    # most MAX_STRING_LENGTH bytes no string can be too long, so skip those checks.
    if (type(value) is not bytes or len(value) > _MAX) and max(
        len(learner_id),
        len(email),
        len(content_id),
        len(content_type),
        len(title),
        len(group),
        len(panorama_id),
        len(panorama_name),
        len(actor_id),
        len(actor_email),
    ) > _MAX:
        return _refused(obj, action_type)  # source needs no check: an over-long one is not in the catalog

    normalized = _email_cache.get(email)
    if normalized is None:
        normalized = normalize_email(email)
        if normalized is None:
            return _refused(obj, action_type)
        if len(email) <= _CACHED_EMAIL_MAX:
            if len(_email_cache) >= CACHE_SIZE:
                _email_cache.clear()
            _email_cache[email] = normalized
    if actor_email:
        actor_email = actor_email.strip()
        if actor_email:
            checked = normalize_email(actor_email)
            if checked is None:
                return _refused(obj, action_type)
            actor_email = checked

    # Equivalent to LogRecord(event_id, ms, ...) (a test checks it), without object.__setattr__.
    r = _new(LogRecord)
    _s0(r, event_id)
    _s1(r, ms)
    _s2(r, action_type)
    _s3(r, canonical)
    _s4(r, learner_id)
    _s5(r, normalized)
    _s6(r, panorama_id)
    _s7(r, panorama_name)
    _s8(r, content_id)
    _s9(r, content_type.lower())
    _s10(r, title)
    _s11(r, group)
    _s12(r, actor_id)
    _s13(r, actor_email)
    _s14(r, topic)
    _s15(r, partition)
    _s16(r, offset)
    return r


def _refused(obj: dict[str, Any], action_type: str) -> Rejection:
    """Why the fast path refused ``obj``: `diagnose` finds it (property tests check they agree)."""
    rejection = diagnose(obj, action_type)
    return rejection if rejection is not None else Rejection(INVALID_FIELD, "event refused")


# --- the slow path: which rule fails first -------------------------------------------------

# (path, required): every field the contract names, in document order.
_REQUIRED: tuple[tuple[str, ...], ...] = (
    ("event_id",),
    ("occurred_at",),
    ("source",),
    ("learner",),
    ("learner", "id"),
    ("learner", "email"),
    ("content",),
    ("content", "id"),
    ("content", "type"),
    ("content", "title"),
)
# Kinds of field checked in the invalid_field pass, in document order.
_NONEMPTY, _TEXT, _OPTIONAL, _EMAIL, _OPTIONAL_EMAIL, _OBJECT, _OPTIONAL_OBJECT, _EVENT_ID = range(8)
_FIELDS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("event_id",), _EVENT_ID),
    (("source",), _NONEMPTY),
    (("learner",), _OBJECT),
    (("learner", "id"), _NONEMPTY),
    (("learner", "email"), _EMAIL),
    (("panorama",), _OPTIONAL_OBJECT),
    (("panorama", "id"), _OPTIONAL),
    (("panorama", "name"), _OPTIONAL),
    (("content",), _OBJECT),
    (("content", "id"), _NONEMPTY),
    (("content", "type"), _TEXT),
    (("content", "title"), _TEXT),
    (("content", "course_group_id"), _OPTIONAL),
    (("actor",), _OPTIONAL_OBJECT),
    (("actor", "id"), _OPTIONAL),
    (("actor", "email"), _OPTIONAL_EMAIL),
)
_ABSENT = object()


def diagnose(obj: dict[str, Any], action_type: str) -> Rejection | None:
    """Return the first reason (in precedence order) why ``obj`` is not a valid event.

    Args:
        obj: the parsed JSON object.
        action_type: the Type of the topic it came from.

    Returns:
        A `Rejection`, or None when the event satisfies every rule.
    """
    for path in _REQUIRED:
        parent = _parent(obj, path)
        if parent is not None:
            value = parent.get(path[-1], _ABSENT)
            if value is _ABSENT or value is None:
                what = "absent" if value is _ABSENT else "null"
                return Rejection(MISSING_FIELD, f"required field '{'.'.join(path)}' is {what}")

    problem = _timestamp_problem(obj["occurred_at"])
    if problem is not None:
        return Rejection(INVALID_TIMESTAMP, problem)

    for path, kind in _FIELDS:
        parent = _parent(obj, path)
        if parent is None:
            continue
        problem = _field_problem(parent.get(path[-1]), kind)
        if problem is not None:
            return Rejection(INVALID_FIELD, f"field '{'.'.join(path)}' {problem}")

    source = obj["source"]
    if lookup_source(action_type, source) is None:
        return Rejection(
            UNKNOWN_SOURCE, f"source {_short(source, 80)!r} is not a Source of Type {_short(action_type, 40)!r}"
        )
    return None


def _parent(obj: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The object holding ``path``'s last key, or None when an ancestor is not an object."""
    parent: Any = obj
    for key in path[:-1]:
        parent = parent.get(key)
        if type(parent) is not dict:
            return None
    return parent


def _timestamp_problem(value: Any) -> str | None:
    if type(value) is str:
        if parse_occurred_at(value) is not None:
            return None
        shown = _short(value, 64)
        if rfc3339_shape(value) is not None:
            return f"occurred_at {shown!r} is no valid date, time and offset in 1970-01-01 .. 2299-12-31 UTC"
        if rfc3339_without_offset(value) is not None:
            return f"occurred_at {shown!r} has no UTC offset"
        return f"occurred_at {shown!r} is not RFC 3339 with a UTC offset"
    if type(value) is int:
        if MIN_OCCURRED_AT_MS <= value <= MAX_OCCURRED_AT_MS:
            return None
        return f"occurred_at {value} epoch ms is outside 1970-01-01 .. 2299-12-31 UTC"
    return f"occurred_at must be RFC 3339 text or an integer of epoch milliseconds, not {_kind(value)}"


def _field_problem(value: Any, kind: int) -> str | None:
    if kind == _OBJECT:
        return None if type(value) is dict else f"must be an object, not {_kind(value)}"
    if kind == _OPTIONAL_OBJECT:
        return None if value is None or type(value) is dict else f"must be an object or null, not {_kind(value)}"
    if value is None and kind in (_OPTIONAL, _OPTIONAL_EMAIL):
        return None
    if type(value) is not str:
        return f"must be a string, not {_kind(value)}"
    limit = MAX_EVENT_ID_LENGTH if kind == _EVENT_ID else _MAX
    if len(value) > limit:
        return f"is longer than {limit} characters"
    if kind in (_EVENT_ID, _NONEMPTY) and not value:
        return "must not be empty"
    if kind == _EMAIL or (kind == _OPTIONAL_EMAIL and value.strip()):
        if not value.strip():
            return "must not be empty"
        if normalize_email(value) is None:
            return "is not an email address (one '@', non-empty local part and domain, no spaces)"
    return None


def _kind(value: Any) -> str:
    """The JSON type name of a parsed value, for details."""
    if value is None:
        return "null"
    if type(value) is bool:
        return "a boolean"
    if type(value) is int:
        return "an integer"
    if type(value) is float:
        return "a floating-point number"
    if type(value) is str:
        return "a string"
    if type(value) is list:
        return "an array"
    return "an object"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _optional_pair(value: Any, first: str, second: str) -> tuple[str, str] | None:
    """An optional object of two optional strings (panorama, actor): ``("", "")`` when absent or
    null, its two values (null → ``""``), or None when anything has the wrong type."""
    if value is None:
        return "", ""
    if type(value) is not dict:
        return None
    a = value.get(first)
    b = value.get(second)
    if a is None:
        a = ""
    elif type(a) is not str:
        return None
    if b is None:
        b = ""
    elif type(b) is not str:
        return None
    return a, b
