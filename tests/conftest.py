"""Session fixtures: the real Kafka broker (scripts/kafka.sh, a cluster given in
KAFKA_BOOTSTRAP_SERVERS, or testcontainers where a Docker engine answers)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

from testkit.containers import docker_unavailable, kafka_container
from testkit.kafka import LocalBroker

_BROKER: dict[str, LocalBroker | None] = {"local": None}


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
        why = docker_unavailable()
        if why is None:
            with kafka_container() as bootstrap:
                yield bootstrap
            return
        # Said out loud, never silently: the rest of the session uses the local broker instead
        # (and tests/integration/test_containers.py shows up as skipped, with the reason).
        warnings.warn(f"ACTIONLOG_TEST_CONTAINERS=1 but {why}: using scripts/kafka.sh instead", stacklevel=1)
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
