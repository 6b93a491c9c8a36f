"""The normalizer on a plain aiokafka consumer (``ACTIONLOG_PROCESSOR_ENGINE=aiokafka``).

Same step and guarantee as the Faust agent (at-least-once: a batch's offsets are committed only
after all its outputs were acknowledged), without Faust's per-message dispatch, which bounds the
Faust agent to a few thousand events per second on this kind of machine (see README, Performance).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError, KafkaError

from actionlog.core.avro import AvroCodec
from actionlog.core.metrics import Metrics
from actionlog.core.settings import Settings
from actionlog.kafka.clients import group_consumer_options, producer_options
from actionlog.processor.step import Normalizer, Output

log = logging.getLogger(__name__)


class KafkaNormalizer:
    """Consumes the input topics in batches, normalizes, produces (confirmed), then commits."""

    def __init__(self, settings: Settings, metrics: Metrics, codec: AvroCodec) -> None:
        self.settings = settings
        topics = settings.kafka.topics
        self.normalizer = Normalizer(metrics, codec, topics.type_by_topic, topics.log, topics.dlq)

    async def run(self) -> None:
        s = self.settings
        topics = s.kafka.topics
        consumer = AIOKafkaConsumer(
            *topics.inputs,
            **group_consumer_options(
                s.kafka,
                group_id=s.processor.app_id,
                role="normalizer",
                max_poll_records=s.processor.batch_size,
                max_partition_fetch_bytes=max(4 * 1024 * 1024, topics.max_message_bytes),
            ),
        )
        producer = AIOKafkaProducer(**producer_options(s.kafka))

        await producer.start()
        produce_all = BatchProducer(producer)
        await consumer.start()
        log.info("normalizer (aiokafka engine) consuming %s", ", ".join(topics.inputs))
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=int(s.processor.batch_seconds * 1000) or 1)
                if not batch:
                    continue
                messages = [m for msgs in batch.values() for m in msgs]
                await self.normalizer.handle(messages, produce_all)
                offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batch.items()}
                try:
                    await consumer.commit(offsets)
                except (CommitFailedError, KafkaError) as exc:
                    # Outputs are durable; the partitions' next owner re-reads from the last commit.
                    log.warning("commit after produce failed (events will be normalized again): %s", exc)
        finally:
            await consumer.stop()
            await producer.stop()


class BatchProducer:
    """Produces outputs as one record batch per partition (aiokafka's batch API).

    Per-message ``send`` costs a future and a task per record; a batch costs one per partition.
    Keyed records are placed by CRC-32 of the key (in C; aiokafka's murmur2 is pure Python and
    cost 15% of the worker's CPU): the same key always lands in the same partition, which is all
    the log needs (duplicates collapse in the table wherever they land). Unkeyed records are
    spread round-robin.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self._partitions: dict[str, list[int]] = {}
        self._rr = 0

    async def _partitions_of(self, topic: str) -> list[int]:
        parts = self._partitions.get(topic)
        if parts is None:
            parts = self._partitions[topic] = sorted(await self.producer.partitions_for(topic))
        return parts

    async def __call__(self, outputs: list[Output]) -> tuple[list[Output], BaseException | None]:
        groups: dict[tuple[str, int], list[Output]] = {}
        for out in outputs:
            topic, key = out[0], out[1]
            parts = await self._partitions_of(topic)
            if key is None:
                self._rr += 1
                partition = parts[self._rr % len(parts)]
            else:
                partition = parts[zlib.crc32(key) % len(parts)]
            groups.setdefault((topic, partition), []).append(out)
        sent: list[tuple[list[Output], Any]] = []
        for (topic, partition), items in groups.items():
            batch = self.producer.create_batch()
            chunk: list[Output] = []
            for item in items:
                _, key, value, headers = item
                if batch.append(key=key, value=value, timestamp=None, headers=list(headers or ())) is None:
                    if chunk:
                        sent.append((chunk, await self.producer.send_batch(batch, topic, partition=partition)))
                    batch, chunk = self.producer.create_batch(), []
                    if batch.append(key=key, value=value, timestamp=None, headers=list(headers or ())) is None:
                        raise ValueError(f"a record for {topic} does not fit in an empty batch")
                chunk.append(item)
            if chunk:
                sent.append((chunk, await self.producer.send_batch(batch, topic, partition=partition)))
        failed: list[Output] = []
        first: BaseException | None = None
        results = await asyncio.gather(*(fut for _, fut in sent), return_exceptions=True)
        for (chunk, _), result in zip(sent, results, strict=True):
            if isinstance(result, BaseException):
                failed.extend(chunk)
                first = first or result
        return failed, first
