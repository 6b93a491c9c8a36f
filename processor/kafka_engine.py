"""The normalizer on a plain aiokafka consumer (``ACTIONLOG_PROCESSOR_ENGINE=aiokafka``).

Same step and guarantee as the Faust agent (at-least-once: a batch's offsets are committed only
after all its outputs were acknowledged), without Faust's per-message dispatch, which bounds the
Faust agent to a few thousand events per second on this kind of machine (see README, Performance).
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from actionlog.metrics import Metrics
from actionlog.settings import Settings
from processor.avro import AvroCodec
from processor.normalizer import Normalizer

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
            bootstrap_servers=s.kafka.bootstrap_servers,
            group_id=s.processor.app_id,
            client_id=f"{s.processor.app_id}-normalizer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.processor.batch_size,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=max(4 * 1024 * 1024, topics.max_message_bytes),
            session_timeout_ms=int(s.kafka.session_timeout * 1000),
            heartbeat_interval_ms=int(s.kafka.session_timeout * 250),
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka.bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=1 << 20,
            max_request_size=topics.dlq_max_message_bytes + 64 * 1024,
        )

        async def send(topic: str, key: bytes | None, value: bytes | None, headers: Any) -> Any:
            return await producer.send(topic, value, key=key, headers=headers)

        await producer.start()
        await consumer.start()
        log.info("normalizer (aiokafka engine) consuming %s", ", ".join(topics.inputs))
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=int(s.processor.batch_seconds * 1000) or 1)
                if not batch:
                    continue
                messages = [m for msgs in batch.values() for m in msgs]
                await self.normalizer.handle(messages, send)
                offsets = {TopicPartition(tp.topic, tp.partition): msgs[-1].offset + 1 for tp, msgs in batch.items()}
                try:
                    await consumer.commit(offsets)
                except (CommitFailedError, KafkaError) as exc:
                    # Outputs are durable; the partitions' next owner re-reads from the last commit.
                    log.warning("commit after produce failed (events will be normalized again): %s", exc)
        finally:
            await consumer.stop()
            await producer.stop()
