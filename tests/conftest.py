"""Session fixtures: the real Kafka broker (scripts/kafka.sh, a cluster given in
KAFKA_BOOTSTRAP_SERVERS, or testcontainers where a Docker engine answers)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from testkit.kafka import LocalBroker

_BROKER: dict[str, LocalBroker | None] = {"local": None}


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
    if os.environ.get("ACTIONLOG_TEST_CONTAINERS") == "1":
        if _docker_answers():
            from testcontainers.kafka import KafkaContainer

            with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka:
                yield kafka.get_bootstrap_server()
            return
        # Said out loud, never silently: the rest of the session uses the local broker instead.
        import warnings

        warnings.warn(
            "ACTIONLOG_TEST_CONTAINERS=1 but no Docker engine answers: using scripts/kafka.sh instead",
            stacklevel=1,
        )
    broker = LocalBroker(int(os.environ.get("ACTIONLOG_TEST_KAFKA_PORT", "19092")))
    broker.start_fresh()
    _BROKER["local"] = broker
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def local_broker(kafka_bootstrap: str) -> LocalBroker | None:
    """The session's broker when it is ours to stop and start (None for a given cluster)."""
    return _BROKER["local"]
