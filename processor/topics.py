"""Creates the topics of CONTRACT §1 with explicit partition counts (the broker never auto-creates)."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from actionlog.settings import KafkaSettings

log = logging.getLogger(__name__)


def group_consumer_options(
    kafka: KafkaSettings, *, group_id: str, role: str, max_poll_records: int, max_partition_fetch_bytes: int
) -> dict[str, object]:
    """Options of our plain aiokafka group consumers (normalizer engine, sink): manual commits."""
    return {
        "bootstrap_servers": kafka.bootstrap_servers,
        "group_id": group_id,
        "client_id": f"{group_id}-{role}",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": max_poll_records,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": max_partition_fetch_bytes,
        "session_timeout_ms": int(kafka.session_timeout * 1000),
        "heartbeat_interval_ms": int(kafka.session_timeout * 250),
    }


def wanted_topics(kafka: KafkaSettings) -> dict[str, tuple[int, dict[str, str]]]:
    """Topic name -> (partition count, topic configs)."""
    t = kafka.topics
    inputs = {"max.message.bytes": str(t.max_message_bytes)}
    wanted = {name: (t.input_partitions, inputs) for name in t.inputs}
    wanted[t.log] = (t.log_partitions, {})
    wanted[t.dlq] = (t.input_partitions, {"max.message.bytes": str(t.dlq_max_message_bytes)})
    return wanted


async def ensure_topics(kafka: KafkaSettings) -> list[str]:
    """Create the missing topics; returns the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers, client_id="actionlog-admin")
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


async def partitions_of(bootstrap_servers: str, topics: list[str]) -> dict[str, list[int]]:
    """Partition numbers of each existing topic (missing topics map to an empty list)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="actionlog-admin")
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {d["topic"]: sorted(p["partition"] for p in d["partitions"]) for d in described}
