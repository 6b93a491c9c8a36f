"""`actionlog topics create` on the real broker: the seven topics with the configured partitions,
replication and size limits (the dead-letter and set-aside topics 1 MiB more than the inputs, so
that any message fits there with our headers; the set-aside topic partitioned like the log); a
topic that exists is left as it is; a second run changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from testkit.pipeline import Pipeline, wait_for

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


UNKNOWN_TOPIC_OR_PARTITION = 3


def layout(bootstrap: str, topics: list[str]) -> dict[str, tuple[int, int, int | None]]:
    """Per topic: (partitions, replicas of each partition, max.message.bytes when set on the
    topic itself, None when it is the broker's default). Waits while the broker does not know a
    topic yet (its metadata reaches the broker's caches a moment after the creation returns)."""
    return wait_for(lambda: _layout(bootstrap, topics), timeout=30, what=f"the broker to describe {topics}")


def _layout(bootstrap: str, topics: list[str]) -> dict[str, tuple[int, int, int | None]] | None:
    async def go() -> dict[str, tuple[int, int, int | None]] | None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics(topics)
            responses = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, t, configs={"max.message.bytes": ""}) for t in topics]
            )
        finally:
            await admin.close()
        limits: dict[str, int | None] = {}
        for response in responses:
            for resource in response.to_object()["resources"]:
                if resource["error_code"] == UNKNOWN_TOPIC_OR_PARTITION:
                    return None
                assert resource["error_code"] == 0, resource
                (entry,) = [c for c in resource["config_entries"] if c["config_names"] == "max.message.bytes"]
                source = entry.get("config_source")  # DescribeConfigs v1+ (1: the topic's own); v0: is_default
                topic_level = source == 1 if source is not None else not entry["is_default"]
                limits[resource["resource_name"]] = int(entry["config_value"]) if topic_level else None
        out = {}
        for d in described:
            if d["error_code"] == UNKNOWN_TOPIC_OR_PARTITION:
                return None
            assert d["error_code"] == 0, d
            replicas = {len(p["replicas"]) for p in d["partitions"]}
            assert len(replicas) == 1, d
            out[d["topic"]] = (len(d["partitions"]), replicas.pop(), limits[d["topic"]])
        return out

    return asyncio.run(go())


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            await admin.close()

    asyncio.run(go())


def test_topics_create_makes_the_seven_topics_once(env: Pipeline) -> None:
    env.vars.update(
        {
            "ACTIONLOG_TOPIC_INPUT_PARTITIONS": "2",
            "ACTIONLOG_TOPIC_LOG_PARTITIONS": "5",
            "ACTIONLOG_TOPIC_REPLICATION": "1",
            "ACTIONLOG_TOPIC_MAX_MESSAGE_BYTES": str(3 * MIB),
        }
    )
    topics = env.settings.kafka.topics
    every = [*topics.inputs, topics.log, topics.dlq, topics.set_aside]
    # One input topic already exists, with another partition count: it is left as it is.
    create_topic(env.bootstrap, topics.enrollments, 1)

    first = env.run("topics", "create")
    assert first.returncode == 0, first.stderr.decode()
    created = first.stdout.decode().strip().removeprefix("created: ").split(", ")
    assert sorted(created) == sorted(t for t in every if t != topics.enrollments)

    want: dict[str, Any] = {t: (2, 1, 3 * MIB) for t in topics.inputs}
    want[topics.enrollments] = (1, 1, None)
    want[topics.log] = (5, 1, None)
    want[topics.dlq] = (2, 1, 4 * MIB)
    want[topics.set_aside] = (5, 1, 4 * MIB)
    assert layout(env.bootstrap, every) == want

    again = env.run("topics", "create")
    assert (again.returncode, again.stdout.decode().strip(), again.stderr) == (0, "all topics exist", b"")
    assert layout(env.bootstrap, every) == want
