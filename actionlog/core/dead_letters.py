"""Headers of dead letters: why a message was refused or set aside, and where it came from.

Two topics hold such letters: the dead-letter topic of the normalizer (upstream messages it
refused, docs/input.md) and the set-aside topic of the sink (log records the store could not
take, docs/operations.md). A letter is the message with its original value, key and headers,
plus the headers below. Values are UTF-8 bytes; numbers are decimal text. Before a dead
letter is re-driven to its source topic, `original_headers` strips ours again, and
the re-driver may count replays in ``actionlog.replay.count``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from actionlog.core.record import Rejection

__all__ = [
    "ERROR_CODE",
    "ERROR_DETAIL",
    "ERROR_PREFIX",
    "ERROR_REASON",
    "MAX_DETAIL_BYTES",
    "REPLAY_COUNT",
    "SOURCE_OFFSET",
    "SOURCE_PARTITION",
    "SOURCE_PREFIX",
    "SOURCE_TOPIC",
    "DeadLetterInfo",
    "dead_letter_headers",
    "original_headers",
    "parse_dead_letter",
    "replay_count",
]

ERROR_PREFIX = "actionlog.error."
SOURCE_PREFIX = "actionlog.source."
ERROR_REASON = "actionlog.error.reason"
ERROR_DETAIL = "actionlog.error.detail"
ERROR_CODE = "actionlog.error.code"
"""The store's numeric error code, on a set-aside record the store refused (absent otherwise)."""
SOURCE_TOPIC = "actionlog.source.topic"
SOURCE_PARTITION = "actionlog.source.partition"
SOURCE_OFFSET = "actionlog.source.offset"
REPLAY_COUNT = "actionlog.replay.count"
"""How many times a message was re-driven from the dead-letter topic (kept on replay)."""

MAX_DETAIL_BYTES = 1000
"""``actionlog.error.detail`` is cut to at most this many UTF-8 bytes (at a character boundary)."""

Headers = Iterable[tuple[str, bytes]] | Mapping[str, bytes]
"""Kafka headers as clients give them: (name, value) pairs, or a mapping (Faust)."""
_NUMBER = re.compile(r"-?[0-9]{1,20}").fullmatch


@dataclass(frozen=True, slots=True)
class DeadLetterInfo:
    """What our headers say about a dead letter; None where a header is absent or unreadable."""

    reason: str | None
    detail: str | None
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    code: int | None = None


def _utf8(text: str, limit: int | None = None) -> bytes:
    """UTF-8 bytes of ``text`` (lone surrogates replaced), cut to ``limit`` bytes at a character boundary."""
    data = text.encode("utf-8", "replace")
    if limit is not None and len(data) > limit:
        data = data[:limit].decode("utf-8", "ignore").encode("utf-8")
    return data


def dead_letter_headers(
    original: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None,
    rejection: Rejection,
    *,
    topic: str,
    partition: int,
    offset: int,
    code: int | None = None,
) -> list[tuple[str, bytes]]:
    """Headers of the dead letter for a refused message.

    Args:
        original: the message's own headers (None or empty when it had none).
        rejection: why it was refused.
        topic: topic it was read from.
        partition: its partition.
        offset: its offset.
        code: the store's error code, when the store refused it.

    Returns:
        The original headers unchanged and in order, then reason, detail (at most
        `MAX_DETAIL_BYTES`), source topic, partition and offset (and the code when given).
        Any ``actionlog.error.*``
        or ``actionlog.source.*`` header already present (a replayed message refused
        again) is dropped, so that each of ours appears exactly once.
    """
    headers = original_headers(original)
    headers.extend(
        (
            (ERROR_REASON, _utf8(rejection.reason)),
            (ERROR_DETAIL, _utf8(rejection.detail, MAX_DETAIL_BYTES)),
            (SOURCE_TOPIC, _utf8(topic)),
            (SOURCE_PARTITION, str(int(partition)).encode("ascii")),
            (SOURCE_OFFSET, str(int(offset)).encode("ascii")),
        )
    )
    if code is not None:
        headers.append((ERROR_CODE, str(int(code)).encode("ascii")))
    return headers


def _pairs(headers: Headers | None) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


def original_headers(headers: Headers | None) -> list[tuple[str, bytes]]:
    """The headers without any ``actionlog.error.*`` / ``actionlog.source.*`` one, order kept (for replay)."""
    return [
        (key, value)
        for key, value in _pairs(headers)
        if not (key.startswith(ERROR_PREFIX) or key.startswith(SOURCE_PREFIX))
    ]


def _last(pairs: list[tuple[str, bytes]], name: str) -> bytes | None:
    found = None
    for key, value in pairs:
        if key == name:
            found = value
    return found


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    return bytes(value).decode("utf-8", "replace")


def _number(value: bytes | None) -> int | None:
    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    return int(text) if _NUMBER(text) is not None else None


def replay_count(headers: Headers | None) -> int:
    """The ``actionlog.replay.count`` header as an int; 0 when absent or not a non-negative number."""
    count = _number(_last(_pairs(headers), REPLAY_COUNT))
    return count if count is not None and count >= 0 else 0


def parse_dead_letter(headers: Headers | None) -> DeadLetterInfo:
    """Read our headers back from a dead letter (the last one wins if a name repeats)."""
    pairs = _pairs(headers)
    return DeadLetterInfo(
        reason=_text(_last(pairs, ERROR_REASON)),
        detail=_text(_last(pairs, ERROR_DETAIL)),
        source_topic=_text(_last(pairs, SOURCE_TOPIC)),
        source_partition=_number(_last(pairs, SOURCE_PARTITION)),
        source_offset=_number(_last(pairs, SOURCE_OFFSET)),
        code=_number(_last(pairs, ERROR_CODE)),
    )
