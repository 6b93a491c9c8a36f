"""The sink: reads the event log and lands it in ClickHouse in batches, committing only what landed.

Guarantee: a Kafka offset is committed only after ClickHouse acknowledged the insert of every
row before it, so a crash can repeat rows (collapsed by the table's dedup, see README) but never
lose one. A failing insert is retried with backoff, forever, with consumption paused (we do not
poll while retrying, so memory stays bounded by one batch).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from actionlog.core.avro import HEADER_LEN, MAGIC, AvroCodec
from actionlog.core.errors import StoreError
from actionlog.core.metrics import Metrics
from actionlog.core.seams import InsertFaults
from actionlog.core.settings import Settings
from actionlog.kafka.clients import group_consumer_options
from actionlog.sink.batch import Batch
from actionlog.store.clickhouse import ClickHouseStore

log = logging.getLogger(__name__)


class ClickHouseSink:
    """Consumes ``content-actions-log`` and inserts batches into the table.

    Args:
        settings: process settings (topics, sink batching, ClickHouse).
        store: an open store of the sink's own (no other user waits behind its inserts);
            blocking calls run in a thread.
        codec: decodes the log's Avro records.
        metrics: counters to update.
    """

    def __init__(self, settings: Settings, store: ClickHouseStore, codec: AvroCodec, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.codec = codec
        self.metrics = metrics
        self.batch = Batch()
        self._header = MAGIC + codec.fingerprint
        self._schema = codec.schema_json
        self.topic = settings.kafka.topics.log
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._faults = InsertFaults(settings.seams)

    async def run(self) -> None:
        """Consume until cancelled."""
        s = self.settings
        consumer = AIOKafkaConsumer(
            **group_consumer_options(
                s.kafka,
                group_id=s.sink.group_id,
                role="sink",
                max_poll_records=s.sink.batch_rows,
                max_partition_fetch_bytes=8 * 1024 * 1024,
            )
        )
        consumer.subscribe([self.topic], listener=_Listener(self))
        self._consumer = consumer
        await consumer.start()
        log.info("sink consuming %s as group %s", self.topic, s.sink.group_id)
        try:
            while True:
                room = s.sink.batch_rows - len(self.batch)
                wait = s.sink.batch_seconds - self.batch.age() if not self.batch.empty else s.sink.batch_seconds
                records = await consumer.getmany(timeout_ms=max(1, int(wait * 1000)), max_records=max(1, room))
                for tp, messages in records.items():
                    self._add(tp.partition, messages)
                self.metrics.sink_buffered.set(len(self.batch))
                if not self.batch.empty and (
                    len(self.batch) >= s.sink.batch_rows or self.batch.age() >= s.sink.batch_seconds
                ):
                    await self.flush()
        finally:
            self.batch.clear()  # unflushed rows are not committed: they are read again
            self._consumer = None
            self._faults.release()
            await consumer.stop()

    def _add(self, partition: int, messages: list[Any]) -> None:
        header = self._header
        add = self.batch.add
        for m in messages:
            value = m.value
            if value is not None and value[:HEADER_LEN] == header:
                add(partition, m.offset, value[HEADER_LEN:])  # the current schema: passed on as it is
                continue
            add(partition, m.offset, self._rewrite(partition, m.offset, value))

    def _rewrite(self, partition: int, offset: int, value: bytes | None) -> bytes | None:
        """A record of an older schema, resolved and re-encoded with the current one; None if not ours."""
        try:
            return self.codec.encode(self.codec.decode_record(value or b""))[HEADER_LEN:]
        except Exception as exc:  # not one of our records: skip it, loudly
            self.metrics.sink_undecodable.inc()
            log.error("skipping undecodable message %s[%d]@%d: %s", self.topic, partition, offset, exc)
            return None

    def _valid(self, body: bytes) -> bool:
        try:
            self.codec.decode(self._header + body)
        except Exception:
            self.metrics.sink_undecodable.inc()
            log.error("dropping a log record whose body does not decode (%d bytes)", len(body))
            return False
        return True

    async def flush(self) -> None:
        """Insert the batch (retrying until it lands), then commit its offsets. Clears it in any case."""
        async with self._lock:
            consumer = self._consumer
            try:
                if self.batch.empty:
                    return
                if len(self.batch):
                    await self._insert_with_retry()
                if consumer is not None:
                    offsets = {TopicPartition(self.topic, p): o for p, o in self.batch.commit_offsets().items()}
                    try:
                        await consumer.commit(offsets)
                    except (CommitFailedError, KafkaError) as exc:
                        # The rows are in ClickHouse; whoever owns the partitions now re-reads them
                        # from the last commit and the duplicates collapse.
                        log.warning("commit after insert failed (rows will be re-read): %s", exc)
            finally:
                self.batch.clear()
                self.metrics.sink_buffered.set(0)

    async def _insert_with_retry(self) -> None:
        rows = self.batch.rows()
        token = self.batch.dedup_token(self.topic)
        n = len(self.batch)
        delay = 0.1
        checked = False
        timeout = self.settings.clickhouse.insert_timeout
        while True:
            started = time.monotonic()
            try:
                await asyncio.wait_for(asyncio.to_thread(self._insert, rows, token), timeout)
            except (StoreError, TimeoutError, OSError) as exc:
                why = f"no answer within {timeout:g}s, abandoned" if isinstance(exc, TimeoutError) else str(exc)
                self.metrics.sink_failures.inc()
                if not checked:
                    # A body that ClickHouse cannot read would fail every retry: check each one
                    # once (decoding in Python) and keep only those that decode.
                    checked = True
                    rows = [r for r in rows if self._valid(r)]
                    n = len(rows)
                log.warning("insert of %d rows failed, retrying in %.1fs: %s", n, delay, why or type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.sink.max_backoff)
                continue
            self.metrics.sink_insert_seconds.observe(time.monotonic() - started)
            self.metrics.sink_rows.inc(n)
            self.metrics.sink_batches.inc()
            return

    def _insert(self, rows: list[bytes], token: str) -> None:
        self._faults.before_insert()
        if rows:
            self.store.insert_avro(rows, self._schema, dedup_token=token)
        self._faults.after_insert()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, sink: ClickHouseSink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # Land what we hold before giving partitions away, so the next owner starts after it.
        if revoked:
            await self.sink.flush()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.sink.metrics.sink_partitions.set(len(assigned))
        log.info("sink assigned %s", sorted(tp.partition for tp in assigned))
