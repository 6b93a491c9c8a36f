"""Creates the project's topics with explicit partition counts (the broker never auto-creates)."""

from __future__ import annotations

import logging
from collections.abc import Collection

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from actionlog.core.settings import KafkaSettings
from actionlog.kafka.clients import admin_options

__all__ = ["align_retention", "ensure_topics", "partitions_of", "topic_overrides", "wanted_topics"]

_DYNAMIC_TOPIC_CONFIG = 1
"""``config_source`` of a topic's own override (DescribeConfigs v1 and later)."""

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


async def topic_overrides(kafka: KafkaSettings, topics: list[str]) -> dict[str, dict[str, str | None]]:
    """Each topic's own configuration overrides (``kafka-configs --describe``), name -> value
    (None for a sensitive value the broker does not show)."""
    admin = AIOKafkaAdminClient(**admin_options(kafka))
    await admin.start()
    try:
        answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    finally:
        await admin.close()
    out: dict[str, dict[str, str | None]] = {}
    for answer in answers:
        for _error, _message, _type, name, entries in answer.resources:
            if answer.API_VERSION >= 1:
                out[name] = {e[0]: e[1] for e in entries if e[3] == _DYNAMIC_TOPIC_CONFIG}
            else:
                out[name] = {e[0]: e[1] for e in entries if not e[3]}
    return out


async def align_retention(kafka: KafkaSettings, *, skip: Collection[str] = ()) -> list[str]:
    """Give existing topics of the project the ``retention.ms`` the settings want; the names changed.

    Kafka's AlterConfigs replaces a topic's whole set of overrides, so every other override the
    topic has is read first and sent back unchanged; a topic with an override the broker does not
    show (sensitive) is left alone, with a warning. Topics the settings want no retention for
    (``ACTIONLOG_RETENTION_DAYS`` unset) keep theirs. Topics just created are ``skip``-ped: the
    broker may not show their overrides yet, and sending back an incomplete set would drop some.
    """
    wanted = {name: cfg["retention.ms"] for name, (_, cfg) in wanted_topics(kafka).items() if "retention.ms" in cfg}
    admin = AIOKafkaAdminClient(**admin_options(kafka))
    await admin.start()
    try:
        listed = set(await admin.list_topics())
        existing = [name for name in wanted if name in listed and name not in skip]
    finally:
        await admin.close()
    if not existing:
        return []
    changed: list[str] = []
    for name, overrides in (await topic_overrides(kafka, existing)).items():
        if overrides.get("retention.ms") == wanted[name]:
            continue
        if any(v is None for v in overrides.values()):
            log.warning("topic %s has an override the broker does not show: its retention.ms is left as it is", name)
            continue
        configs = {**overrides, "retention.ms": wanted[name]}
        admin = AIOKafkaAdminClient(**admin_options(kafka))
        await admin.start()
        try:
            answers = await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=configs)])
        finally:
            await admin.close()
        errors = [r for a in answers for r in a.resources if r[0]]
        if errors:
            log.warning("retention.ms of topic %s not changed: %s", name, errors[0][1] or errors[0][0])
            continue
        log.info(
            "topic %s: retention.ms %s -> %s", name, overrides.get("retention.ms", "(broker default)"), wanted[name]
        )
        changed.append(name)
    return changed
