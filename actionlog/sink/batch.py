"""A batch of log rows buffered per partition, with the offsets to commit once it is inserted.

A row is the Avro binary body of one log record (current schema): the sink hands the bodies to
ClickHouse as one Avro container block, so no row is decoded in Python on the way.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field


@dataclass
class _Span:
    first: int
    last: int
    rows: list[bytes] = field(default_factory=list)


class Batch:
    """Rows of one insert, grouped by log partition."""

    def __init__(self) -> None:
        self._spans: dict[int, _Span] = {}
        self._count = 0
        self._started: float | None = None

    def __len__(self) -> int:
        return self._count

    def add(self, partition: int, offset: int, row: bytes | None) -> None:
        """Add a row read at ``offset``; ``row=None`` only advances the offset (a skipped message)."""
        span = self._spans.get(partition)
        if span is None:
            span = self._spans[partition] = _Span(offset, offset)
        span.last = offset
        if row is not None:
            span.rows.append(row)
            self._count += 1
        if self._started is None:
            self._started = time.monotonic()

    @property
    def empty(self) -> bool:
        return not self._spans

    def age(self) -> float:
        return 0.0 if self._started is None else time.monotonic() - self._started

    def rows(self) -> list[bytes]:
        """Every row, partition by partition, in offset order."""
        return [row for span in self._spans.values() for row in span.rows]

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
