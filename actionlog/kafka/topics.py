"""Creates the project's topics with explicit partition counts (the broker never auto-creates)."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from actionlog.core.settings import KafkaSettings
from actionlog.kafka.clients import admin_options

__all__ = ["ensure_topics", "partitions_of", "wanted_topics"]

log = logging.getLogger(__name__)


def wanted_topics(kafka: KafkaSettings) -> dict[str, tuple[int, dict[str, str]]]:
    """Topic name -> (partition count, topic configs)."""
    t = kafka.topics
    kept = {} if t.retention_ms is None else {"retention.ms": str(t.retention_ms)}
    letters = {"max.message.bytes": str(t.dlq_max_message_bytes), "retention.ms": str(t.dlq_retention_ms)}
    inputs = {"max.message.bytes": str(t.max_message_bytes), **kept}
    wanted = {name: (t.input_partitions, inputs) for name in t.inputs}
    wanted[t.log] = (t.log_partitions, dict(kept))
    wanted[t.dlq] = (t.input_partitions, letters)
    wanted[t.set_aside] = (t.log_partitions, dict(letters))
    return wanted


async def ensure_topics(kafka: KafkaSettings) -> list[str]:
    """Create the missing topics; returns the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(**admin_options(kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, partitions, kafka.topics.replication, topic_configs=configs)
            for name, (partitions, configs) in wanted_topics(kafka).items()
            if name not in existing
        ]
        created: list[str] = []
        for topic in missing:
            try:
                await admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another worker won the race
        if created:
            log.info("created topics %s", ", ".join(created))
        return created
    finally:
        await admin.close()


async def partitions_of(kafka: KafkaSettings, topics: list[str]) -> dict[str, list[int]]:
    """Partition numbers of each existing topic (missing topics map to an empty list)."""
    admin = AIOKafkaAdminClient(**admin_options(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {d["topic"]: sorted(p["partition"] for p in d["partitions"]) for d in described}
