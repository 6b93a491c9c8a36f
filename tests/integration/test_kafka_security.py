"""Kafka security against a real broker of our own with TLS, mutual-TLS and SASL_SSL listeners
(scripts/kafka.sh, a throwaway CA made by openssl): the worker over TLS alone and over SASL/SCRAM,
events published over TLS reaching the report, and the refusals (wrong CA, no client certificate,
wrong password, a plaintext client on the TLS port), each one line, exit 1, no traceback.

The broker's ports: ACTIONLOG_TEST_KAFKA_SECURE_PORT (default 19492) for PLAINTEXT (the broker's
own, never given to a client here), +1 controller, +2 TLS, +3 mutual TLS, +4 SASL_SSL.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from testkit.events import contract_event
from testkit.kafka import LocalBroker, produce
from testkit.pipeline import Pipeline, wait_for
from testkit.reports import cli_report_rows
from testkit.tls import client_tls_options, throwaway_certs

# A broker of its own (its start alone takes 15-50 s here) and three workers: a drill.
pytestmark = [pytest.mark.integration, pytest.mark.drill]

SASL_PASSWORD = secrets.token_hex(12)
CONTRACT_ROW = [
    "ada.lovelace@example.com",
    "Acme Academy",
    "course",
    'Intro to "Safety", Part 1',
    "enrollment",
    "course_purchase",
    "2026-11-03T13:05:06.123Z",
]


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalBroker]:
    port = int(os.environ.get("ACTIONLOG_TEST_KAFKA_SECURE_PORT", "19492"))
    local = LocalBroker(port, secure=True, sasl_password=SASL_PASSWORD)
    local.start_fresh()
    try:
        yield local
    finally:
        local.reset()


@pytest.fixture
def pipelines() -> Iterator[list[Pipeline]]:
    made: list[Pipeline] = []
    yield made
    for pipeline in made:
        pipeline.stop_workers()


def tls_vars(broker: LocalBroker, ca_file: Path | None = None) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": broker.ssl_bootstrap,
        "ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SSL",
        "ACTIONLOG_KAFKA_SSL_CA_FILE": str(ca_file or broker.tls_dir / "ca.pem"),
    }


def sasl_vars(broker: LocalBroker, mechanism: str = "SCRAM-SHA-512", password: str = SASL_PASSWORD) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": broker.sasl_ssl_bootstrap,
        "ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "ACTIONLOG_KAFKA_SSL_CA_FILE": str(broker.tls_dir / "ca.pem"),
        "ACTIONLOG_KAFKA_SASL_MECHANISM": mechanism,
        "ACTIONLOG_KAFKA_SASL_USERNAME": broker.sasl_user,
        "ACTIONLOG_KAFKA_SASL_PASSWORD": password,
    }


def one_line_refusal(res: subprocess.CompletedProcess[bytes], *needles: str) -> str:
    """The command failed with exit 1 and one line on stderr, holding every needle; returns it."""
    stderr = res.stderr.decode()
    assert res.returncode == 1, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("listener", "engine"),
    [("tls", "faust"), ("tls", "aiokafka"), ("sasl_scram", "faust")],
)
def test_worker_on_a_secured_listener_only_lands_events_published_over_tls(
    broker: LocalBroker, tmp_path: Path, pipelines: list[Pipeline], listener: str, engine: str
) -> None:
    """The worker gets only the secured port: a broker answers a client on a listener with that
    listener's addresses, so every connection of the worker (topics, normalizer, sink) is secured."""
    secured = tls_vars(broker) if listener == "tls" else sasl_vars(broker)
    env = Pipeline(secured["KAFKA_BOOTSTRAP_SERVERS"], tmp_path, vars=secured)
    pipelines.append(env)
    env.vars["ACTIONLOG_PROCESSOR_ENGINE"] = engine
    env.start_worker()
    env.wait_http()

    event = contract_event(event_id="random")
    produce(
        broker.ssl_bootstrap,
        [(env.topic("enrollment"), None, orjson.dumps(event), None)],
        **client_tls_options(broker.tls_dir / "ca.pem"),
    )
    rows = wait_for(
        lambda: cli_report_rows(env, "--from", "2026-11-01", "--to", "2026-11-30") or None,
        timeout=90,
        what="the event in the report",
    )
    assert rows == [CONTRACT_ROW]
    replay = env.run("dlq", "replay", "--dry-run")  # its consumer and producer, with the same settings
    assert replay.returncode == 0, replay.stderr.decode()
    assert SASL_PASSWORD not in env.worker_log()


def test_a_client_with_the_wrong_ca_is_refused(broker: LocalBroker, tmp_path: Path) -> None:
    other = throwaway_certs(tmp_path / "other-ca")
    env = Pipeline(broker.ssl_bootstrap, tmp_path, vars=tls_vars(broker, other / "ca.pem"))
    one_line_refusal(env.run("topics", "create"), "Kafka unreachable", "CERTIFICATE_VERIFY_FAILED")

    worker = env.run("worker", "--loglevel", "warning")
    assert worker.returncode == 1, worker.stderr.decode()
    assert "Traceback" not in worker.stderr.decode()
    last = worker.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("actionlog: Kafka unreachable") and "CERTIFICATE_VERIFY_FAILED" in last


def test_a_plaintext_client_is_refused_on_the_tls_listener(broker: LocalBroker, tmp_path: Path) -> None:
    """What makes the worker test mean something: the TLS port does not speak plaintext."""
    env = Pipeline(broker.ssl_bootstrap, tmp_path)
    one_line_refusal(env.run("topics", "create"), "Kafka unreachable")


def test_mutual_tls_needs_the_client_certificate(broker: LocalBroker, tmp_path: Path) -> None:
    tls = broker.tls_dir
    env = Pipeline(
        broker.mtls_bootstrap, tmp_path, vars={**tls_vars(broker), "KAFKA_BOOTSTRAP_SERVERS": broker.mtls_bootstrap}
    )
    one_line_refusal(env.run("topics", "create"), "Kafka unreachable")

    ok = env.run(
        "topics",
        "create",
        ACTIONLOG_KAFKA_SSL_CERT_FILE=str(tls / "client.pem"),
        ACTIONLOG_KAFKA_SSL_KEY_FILE=str(tls / "client.key"),
    )
    assert ok.returncode == 0, ok.stderr.decode()
    assert ok.stdout.decode().startswith("created: ")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_sasl_mechanisms_over_tls(broker: LocalBroker, tmp_path: Path, mechanism: str) -> None:
    env = Pipeline(broker.sasl_ssl_bootstrap, tmp_path, vars=sasl_vars(broker, mechanism))
    ok = env.run("topics", "create")
    assert ok.returncode == 0, ok.stderr.decode()
    assert ok.stdout.decode().startswith("created: ")


def test_a_wrong_sasl_password_is_refused_without_showing_it(broker: LocalBroker, tmp_path: Path) -> None:
    wrong = "wrong-" + SASL_PASSWORD
    env = Pipeline(broker.sasl_ssl_bootstrap, tmp_path, vars=sasl_vars(broker, password=wrong))
    line = one_line_refusal(env.run("topics", "create"), "Kafka unreachable", "Authentication failed")
    assert wrong not in line and SASL_PASSWORD not in line
