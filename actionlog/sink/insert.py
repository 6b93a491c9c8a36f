"""Landing one batch: insert it, retry what heals, cut it when the store refuses the block, and
name the rows the store will never take (docs/guarantees.md, "Sink").

1. The batch goes in as one block with its dedup token.
2. An error that heals (`actionlog.store.codes.classify`) is retried, with backoff, for ever; a
   hung insert is abandoned after the insert timeout and retried.
3. A block refused for touching too many table partitions is cut by month
   (`actionlog.sink.blocks.by_partition`); a block refused for its rows is first checked in
   Python once (rows that do not decode are set aside as ``undecodable``), then halved until the
   rows the store refuses are single rows, set aside as ``refused`` with the store's error.

Every piece carries a token derived from its parent's, so repeating the whole procedure after a
crash or a lost answer writes nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from actionlog.core.avro import MAGIC, AvroCodec
from actionlog.core.metrics import Metrics
from actionlog.core.privacy import scrub
from actionlog.core.record import REFUSED, UNDECODABLE
from actionlog.core.seams import InsertFaults
from actionlog.core.settings import Settings
from actionlog.sink.batch import Batch, SetAside
from actionlog.sink.blocks import Block, by_partition, halves
from actionlog.sink.health import SinkHealth
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.codes import UNKNOWN_RETRIES, Verdict, classify, too_many_partitions

__all__ = ["Lander"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Refusal:
    reason: str
    detail: str
    code: int | None = None


class Lander:
    """Lands the rows of a batch in the store and returns those it must set aside.

    Args:
        settings: process settings (insert timeout, backoff).
        store: the sink's own store client (blocking calls run in a thread).
        codec: checks bodies when the store refuses a block.
        metrics: counters to update.
        health: told about progress and failures (``/readyz``).
    """

    def __init__(
        self, settings: Settings, store: ClickHouseStore, codec: AvroCodec, metrics: Metrics, health: SinkHealth
    ) -> None:
        self.settings = settings
        self.store = store
        self.codec = codec
        self.metrics = metrics
        self.health = health
        self.faults = InsertFaults(settings.seams)
        self._header = MAGIC + codec.fingerprint
        self._schema = codec.schema_json

    async def land(self, batch: Batch, topic: str) -> list[SetAside]:
        """Insert every row of ``batch`` the store takes; returns the others, as set-aside records."""
        bodies = batch.rows()
        refused: dict[int, _Refusal] = {}
        checked = False
        queue = [Block(tuple(range(len(bodies))), batch.dedup_token(topic))]
        while queue:
            block = queue.pop(0)
            if not block.rows:
                continue
            error = await self._insert(block, bodies)
            if error is None:
                continue
            self.metrics.sink_splits.inc()
            if too_many_partitions(error):
                pieces = by_partition(block, bodies)
                if len(pieces) > 1:
                    queue[:0] = pieces
                    continue
            elif not checked:
                # A body ClickHouse cannot read: find every such one at once, in Python.
                checked = True
                found = await asyncio.to_thread(self._undecodable, bodies)
                bad = {i: _Refusal(UNDECODABLE, why) for i, why in found.items()}
                if bad:
                    refused.update(bad)
                    dropped = frozenset(bad)
                    queue = [b.without(dropped) if dropped.intersection(b.rows) else b for b in [block, *queue]]
                    continue
            if len(block) == 1:
                refused[block.rows[0]] = _Refusal(REFUSED, str(error), getattr(error, "code", None))
                continue
            queue[:0] = halves(block)
        self.metrics.sink_batches.inc()
        return [self._letter(batch, bodies, i, r) for i, r in sorted(refused.items())]

    async def _insert(self, block: Block, bodies: list[bytes]) -> BaseException | None:
        """Insert one block, retrying what heals; None once it landed, else the error refusing it."""
        rows = [bodies[i] for i in block.rows]
        timeout = self.settings.clickhouse.insert_timeout
        delay = 0.1
        unknown = 0
        while True:
            started = self.health.now()
            try:
                await asyncio.wait_for(asyncio.to_thread(self._insert_rows, rows, block.token), timeout)
            except Exception as exc:
                verdict = classify(exc)
                if verdict is Verdict.SPLIT or (verdict is Verdict.UNKNOWN and unknown >= UNKNOWN_RETRIES):
                    self.health.progress()
                    log.warning("insert of %d rows refused, cutting the block: %s", len(rows), _why(exc, timeout))
                    return exc
                unknown += verdict is Verdict.UNKNOWN
                self.metrics.sink_failures.inc()
                self.health.failed(started)
                log.warning("insert of %d rows failed, retrying in %.1fs: %s", len(rows), delay, _why(exc, timeout))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.sink.max_backoff)
                continue
            self.metrics.sink_insert_seconds.observe(self.health.now() - started)
            self.metrics.sink_rows.inc(len(rows))
            self.health.landed()
            return None

    def _insert_rows(self, rows: list[bytes], token: str) -> None:
        self.faults.before_insert()
        self.store.insert_avro(rows, self._schema, dedup_token=token)
        self.faults.after_insert()

    def _undecodable(self, bodies: list[bytes]) -> dict[int, str]:
        bad = {}
        for i, body in enumerate(bodies):
            try:
                self.codec.decode(self._header + body)
            except Exception as exc:
                bad[i] = f"the record does not decode: {exc}"
        return bad

    def _letter(self, batch: Batch, bodies: list[bytes], index: int, refusal: _Refusal) -> SetAside:
        partition, offset, key, headers = batch.origin(index)
        return SetAside(
            partition=partition,
            offset=offset,
            key=key,
            value=self._header + bodies[index],
            headers=headers,
            reason=refusal.reason,
            detail=refusal.detail,
            code=refusal.code,
        )

    def release(self) -> None:
        """Let hung inserts of the test seams end (at shutdown)."""
        self.faults.release()


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g}s, abandoned"
    return scrub(" ".join(str(exc).split()))[:500] or type(exc).__name__
