"""The testcontainers path: a Kafka broker in Docker, where a Docker engine answers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["KAFKA_IMAGE", "docker_unavailable", "kafka_container"]

KAFKA_IMAGE = "apache/kafka:4.1.1"


def docker_unavailable() -> str | None:
    """None when a Docker engine answers (the way testcontainers asks it), else why not, in one line."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # the SDK raises DockerException, urllib3 and OS errors alike
        return f"no Docker engine answers ({type(exc).__name__}: {str(exc)[:160]})"
    return None


@contextlib.contextmanager
def kafka_container() -> Iterator[str]:
    """A one-node KRaft Kafka in Docker for the duration; yields its bootstrap address."""
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka:
        yield kafka.get_bootstrap_server()
