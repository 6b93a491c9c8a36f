"""A batch of log rows buffered per partition, with the offsets to commit once it is inserted.

A row is the Avro binary body of one log record (current schema): the sink hands the bodies to
ClickHouse as one Avro container block, so no row is decoded in Python on the way. A message
that is not one of our records never becomes a row: it is kept aside (`SetAside`) with the
batch, to be written to the set-aside topic before the batch's offsets are committed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Batch", "SetAside"]


@dataclass(frozen=True)
class SetAside:
    """A log message the store will not take, as it goes to the set-aside topic.

    Attributes:
        partition: its log partition.
        offset: its log offset.
        key: its key (the event id for our records).
        value: the message (for a row: the record as the sink tried to land it).
        headers: its own headers (a replayed one carries its replay count).
        reason: ``undecodable`` or ``refused`` (`actionlog.core.record.SET_ASIDE_REASONS`).
        detail: what was wrong, in words (the store's error for a refused row).
        code: the store's error code for a refused row.
    """

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any
    reason: str
    detail: str
    code: int | None = None


@dataclass
class _Span:
    first: int
    last: int
    rows: list[bytes] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    headers: dict[int, Any] = field(default_factory=dict)
    """Headers of the rows that have any (by index in ``rows``): replayed records carry a count."""


class Batch:
    """Rows of one insert, grouped by log partition, and the messages set aside on the way."""

    def __init__(self) -> None:
        self._spans: dict[int, _Span] = {}
        self._count = 0
        self._started: float | None = None
        self.set_aside: list[SetAside] = []

    def __len__(self) -> int:
        return self._count

    def _span(self, partition: int, offset: int) -> _Span:
        span = self._spans.get(partition)
        if span is None:
            span = self._spans[partition] = _Span(offset, offset)
        span.last = offset
        if self._started is None:
            self._started = time.monotonic()
        return span

    def add(self, partition: int, offset: int, row: bytes, key: bytes | None = None, headers: Any = None) -> None:
        """Add the row read at ``offset`` (with the message's key, and its headers if it had any)."""
        span = self._span(partition, offset)
        if headers:
            span.headers[len(span.rows)] = headers
        span.rows.append(row)
        span.offsets.append(offset)
        span.keys.append(key)
        self._count += 1

    def drop(self, unwanted: Callable[[bytes], bool]) -> int:
        """Remove the rows ``unwanted`` picks (their offsets still count as read); how many went."""
        gone = 0
        for span in self._spans.values():
            keep = [i for i, row in enumerate(span.rows) if not unwanted(row)]
            if len(keep) == len(span.rows):
                continue
            gone += len(span.rows) - len(keep)
            span.headers = {n: span.headers[i] for n, i in enumerate(keep) if i in span.headers}
            span.rows = [span.rows[i] for i in keep]
            span.offsets = [span.offsets[i] for i in keep]
            span.keys = [span.keys[i] for i in keep]
        self._count -= gone
        return gone

    def put_aside(self, letter: SetAside) -> None:
        """Keep a message that is no row (it still advances its partition's offset)."""
        self._span(letter.partition, letter.offset)
        self.set_aside.append(letter)

    @property
    def empty(self) -> bool:
        return not self._spans

    def age(self) -> float:
        return 0.0 if self._started is None else time.monotonic() - self._started

    def _ordered(self) -> list[_Span]:
        return [self._spans[p] for p in sorted(self._spans)]

    def rows(self) -> list[bytes]:
        """Every row, partition by partition (in partition order), in offset order."""
        return [row for span in self._ordered() for row in span.rows]

    def origin(self, index: int) -> tuple[int, int, bytes | None, Any]:
        """(partition, offset, key, headers) of the row at ``index`` of `rows`."""
        for p in sorted(self._spans):
            span = self._spans[p]
            if index < len(span.rows):
                return p, span.offsets[index], span.keys[index], span.headers.get(index)
            index -= len(span.rows)
        raise IndexError(index)

    def commit_offsets(self) -> dict[int, int]:
        """Per partition, the next offset to read once this batch is durable."""
        return {p: s.last + 1 for p, s in self._spans.items()}

    def dedup_token(self, topic: str) -> str:
        """A token naming exactly this block: positions plus a digest of the rows.

        ClickHouse skips an insert whose token it saw recently (non_replicated_deduplication_window),
        so re-inserting the same block after a crash or a retry writes nothing twice. The digest
        keeps a recreated topic (offsets from 0 again) from colliding with an old token.
        """
        h = hashlib.blake2b(digest_size=12)
        parts = []
        for p in sorted(self._spans):
            s = self._spans[p]
            parts.append(f"{p}:{s.first}-{s.last}")
            for row in s.rows:
                h.update(len(row).to_bytes(4, "little"))
                h.update(row)
        return f"{topic}|{','.join(parts)}|{h.hexdigest()}"

    def clear(self) -> None:
        self._spans.clear()
        self._count = 0
        self._started = None
        self.set_aside = []
