"""How the sink cuts a batch into insert blocks when the whole does not go in at once (pure).

A block is a set of rows of the batch (their indexes, in batch order) and the dedup token it is
inserted with. The first block is the whole batch with the batch's token. A block the store
refuses for the number of partitions it touches is cut by table partition, at most
`MAX_PARTITIONS_PER_INSERT` months per block; a block refused for its rows is cut in halves,
down to single rows, so that the rows the store refuses are found and every other one lands.

Every cut is a function of the batch alone, and each piece's token derives from its parent's, so
a batch landed again after a crash or a lost answer cuts the same way and every piece that
already landed is a no-op (ClickHouse skips a token it has seen).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from actionlog.core.avro import occurred_at_of
from actionlog.store.schema import MAX_PARTITIONS_PER_INSERT, partition_of

__all__ = ["Block", "by_partition", "halves"]


@dataclass(frozen=True)
class Block:
    """Rows of the batch (indexes into its row list, ascending) and their dedup token."""

    rows: tuple[int, ...]
    token: str

    def __len__(self) -> int:
        return len(self.rows)

    def without(self, dropped: frozenset[int]) -> Block:
        """The block less some rows (taken out for another reason), under a token of its own."""
        return Block(tuple(i for i in self.rows if i not in dropped), f"{self.token}|k")


def halves(block: Block) -> tuple[Block, Block]:
    """The block's first and second half (a block of at least two rows)."""
    if len(block) < 2:
        raise ValueError("a block of one row has no halves")
    mid = len(block) // 2
    return Block(block.rows[:mid], f"{block.token}|0"), Block(block.rows[mid:], f"{block.token}|1")


def by_partition(block: Block, bodies: Sequence[bytes], limit: int = MAX_PARTITIONS_PER_INSERT) -> list[Block]:
    """The block cut into pieces of at most ``limit`` table partitions each (months in order).

    Rows whose ``occurred_at`` cannot be read form a piece of their own, last (the store will
    refuse them, and halving finds them).
    """
    months: dict[int | None, list[int]] = {}
    for i in block.rows:
        occurred_at = occurred_at_of(bodies[i])
        months.setdefault(None if occurred_at is None else partition_of(occurred_at), []).append(i)
    known = sorted(m for m in months if m is not None)
    groups = [known[k : k + limit] for k in range(0, len(known), limit)]
    pieces = [sorted(i for m in group for i in months[m]) for group in groups]
    if None in months:
        pieces.append(months[None])
    return [Block(tuple(rows), f"{block.token}|m{n}") for n, rows in enumerate(pieces)]
