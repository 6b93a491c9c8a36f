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


class BrokerControl:
    """Stop/start of the session's local broker (None when the cluster is not ours)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.script = str(ROOT / "scripts" / "kafka.sh")

    def stop(self) -> None:
        subprocess.run([self.script, "stop"], env=self.env, check=True)

    def start(self) -> None:
        subprocess.run([self.script, "start"], env=self.env, check=True)


_CONTROL: dict[str, BrokerControl | None] = {"broker": None}


@pytest.fixture(scope="session")
def broker_control(kafka_bootstrap: str) -> BrokerControl | None:
    return _CONTROL["broker"]


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
    _CONTROL["broker"] = BrokerControl(env)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([script, "stop"], env=env, check=False)
