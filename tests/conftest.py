"""Shared fixtures: the real Kafka broker (scripts/kafka.sh, or KAFKA_BOOTSTRAP_SERVERS), topic
and producer factories, and a worker process factory."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real broker for the whole session.

    KAFKA_BOOTSTRAP_SERVERS set: use that cluster, start nothing. ACTIONLOG_TEST_CONTAINERS=1 and
    a Docker engine that answers: a testcontainers Kafka. Otherwise: the local KRaft broker of
    scripts/kafka.sh on ACTIONLOG_TEST_KAFKA_PORT (default 19092), stopped at the end.
    """
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    if os.environ.get("ACTIONLOG_TEST_CONTAINERS") == "1" and _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    port = os.environ.get("ACTIONLOG_TEST_KAFKA_PORT", "19092")
    env = {**os.environ, "KAFKA_PORT": port}
    script = str(ROOT / "scripts" / "kafka.sh")
    subprocess.run([script, "reset"], env=env, check=True)
    subprocess.run([script, "start"], env=env, check=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([script, "stop"], env=env, check=False)
