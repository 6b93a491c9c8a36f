"""The testcontainers path (ACTIONLOG_TEST_CONTAINERS=1): a Kafka in Docker takes our topics and
carries a message. Where no Docker engine answers, this test is skipped and says why."""

from __future__ import annotations

import asyncio

import pytest

from actionlog.core.settings import Settings
from actionlog.kafka.topics import ensure_topics, partitions_of
from testkit.containers import docker_unavailable, kafka_container
from testkit.kafka import consume_all, produce

pytestmark = pytest.mark.integration


def test_a_testcontainers_kafka_takes_our_topics_and_carries_a_message() -> None:
    why = docker_unavailable()
    if why is not None:
        pytest.skip(f"testcontainers Kafka not run: {why}")
    with kafka_container() as bootstrap:
        settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap})
        topics = settings.kafka.topics
        created = asyncio.run(ensure_topics(settings.kafka))
        assert sorted(created) == sorted([*topics.inputs, topics.log, topics.dlq])
        layout = asyncio.run(partitions_of(settings.kafka, [topics.log]))
        assert layout == {topics.log: list(range(topics.log_partitions))}
        produce(bootstrap, [(topics.enrollments, b"k", b"v", None)])
        (message,) = consume_all(bootstrap, topics.enrollments, 1)
        assert (message.key, message.value) == (b"k", b"v")
