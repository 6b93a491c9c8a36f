"""The sink: reads the event log and lands it in ClickHouse in batches, committing only what landed.

Guarantee: a Kafka offset is committed only after every record before it either landed (ClickHouse
acknowledged its insert) or was set aside (the broker acknowledged it on the set-aside topic), so a
crash can repeat rows (collapsed by the table's dedup, see docs/guarantees.md) but never lose one.
An insert that fails for a reason that heals is retried with backoff, for ever, with consumption
paused (we do not poll while retrying, so memory stays bounded by one batch); rows the store will
never take are found and set aside (`actionlog.sink.insert`), never retried in front of the others.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from actionlog.core.avro import HEADER_LEN, MAGIC, AvroCodec
from actionlog.core.errors import StoreError
from actionlog.core.metrics import Metrics
from actionlog.core.record import UNDECODABLE
from actionlog.core.settings import Settings
from actionlog.kafka.clients import group_consumer_options
from actionlog.sink.batch import Batch, SetAside
from actionlog.sink.health import SinkHealth
from actionlog.sink.insert import Lander
from actionlog.sink.set_aside import SetAsideWriter
from actionlog.sink.suppression import SinkSuppression
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
        health: what ``/readyz`` reads (a fresh one when not given).
    """

    def __init__(
        self,
        settings: Settings,
        store: ClickHouseStore,
        codec: AvroCodec,
        metrics: Metrics,
        health: SinkHealth | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.codec = codec
        self.metrics = metrics
        self.health = health if health is not None else SinkHealth()
        self.batch = Batch()
        self._header = MAGIC + codec.fingerprint
        self.topic = settings.kafka.topics.log
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self.lander = Lander(settings, store, codec, metrics, self.health)
        self.set_aside = SetAsideWriter(settings, metrics)
        self.suppression = SinkSuppression(settings, store, codec, metrics)

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
        await self._until_done(self.suppression.refresh)
        await consumer.start()
        log.info("sink consuming %s as group %s", self.topic, s.sink.group_id)
        try:
            while True:
                room = s.sink.batch_rows - len(self.batch)
                wait = s.sink.batch_seconds - self.batch.age() if not self.batch.empty else s.sink.batch_seconds
                records = await consumer.getmany(timeout_ms=max(1, int(wait * 1000)), max_records=max(1, room))
                self.health.progress()
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
            self.lander.release()
            await self.set_aside.stop()
            await consumer.stop()

    def _add(self, partition: int, messages: list[Any]) -> None:
        header = self._header
        add = self.batch.add
        for m in messages:
            value = m.value
            if value is not None and value[:HEADER_LEN] == header:
                add(partition, m.offset, value[HEADER_LEN:], m.key, m.headers)  # the current schema: as it is
                continue
            try:  # a record of an older schema: resolved and re-encoded with the current one
                body = self.codec.encode(self.codec.decode_record(value or b""))[HEADER_LEN:]
            except Exception as exc:  # not one of our records: set aside, with the reason
                why = f"not a record of the event log: {exc}"
                self.batch.put_aside(SetAside(partition, m.offset, m.key, value, m.headers, UNDECODABLE, why))
                continue
            add(partition, m.offset, body, m.key, m.headers)

    async def flush(self) -> None:
        """Land the batch (retrying until every row landed or was set aside), then commit its offsets.
        Clears it in any case."""
        async with self._lock:
            consumer = self._consumer
            try:
                if self.batch.empty:
                    return
                letters = list(self.batch.set_aside)
                if len(self.batch):
                    await asyncio.to_thread(self.suppression.filter, self.batch)
                if len(self.batch):
                    letters += await self.lander.land(self.batch, self.topic)
                    await self._until_done(self.suppression.after_landing, self.batch)
                if letters:
                    await self.set_aside.write(letters)
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

    async def _until_done(self, call: Any, *args: Any) -> Any:
        """Run a blocking store call in a thread, retried with backoff until it succeeds (the
        offsets are not committed before it did)."""
        delay = 0.1
        while True:
            try:
                return await asyncio.to_thread(call, *args)
            except StoreError as exc:
                log.warning("suppression check failed (retrying): %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.sink.max_backoff)


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
