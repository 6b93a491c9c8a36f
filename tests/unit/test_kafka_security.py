"""Kafka client security: settings → the options of every client and Faust's credentials (tables,
no connection opened), the refusals of inconsistent settings, and secrets that never show."""

from __future__ import annotations

import logging
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from actionlog.core.avro import AvroCodec
from actionlog.core.errors import ConfigError
from actionlog.core.metrics import Metrics
from actionlog.core.settings import KafkaSecurity, Settings
from actionlog.kafka.clients import admin_options, connection_options, group_consumer_options, producer_options
from actionlog.kafka.failures import explained
from actionlog.processor.faust_engine import create_app, faust_credentials
from testkit.tls import encrypt_key, throwaway_certs

PASSWORD = "hunter2-kafka-pw"
KEY_PASSWORD = "key-pw-7f3a"
OURS = "ours"  # the CA a table row expects: ours (ca.pem) or the system's


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = throwaway_certs(tmp_path_factory.mktemp("tls"))
    encrypt_key(d / "client.key", d / "client-encrypted.key", KEY_PASSWORD)
    return d


def env_of(tls: Path, row: dict[str, str]) -> dict[str, str]:
    """A row's variables, ``{tls}`` standing for the certificates' directory."""
    return {k: v.replace("{tls}", str(tls)) for k, v in row.items()}


def described(options: dict[str, Any], tls: Path) -> dict[str, Any]:
    """``options`` with the TLS context replaced by what it does: which CAs it trusts, whether it
    verifies the certificate and checks the host name."""
    out = dict(options)
    context = out.pop("ssl_context", None)
    if context is not None:
        ours = ssl.create_default_context(cafile=tls / "ca.pem").get_ca_certs()[0]["subject"]
        trusted = [c["subject"] for c in context.get_ca_certs()]
        out["ssl_context"] = {
            "ca": OURS if trusted == [ours] else "system" if ours not in trusted else trusted,
            "verify": context.verify_mode == ssl.CERT_REQUIRED,
            "check_hostname": context.check_hostname,
        }
    return out


TLS_OURS = {"ca": OURS, "verify": True, "check_hostname": True}
ROWS: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("default: plaintext", {}, {"security_protocol": "PLAINTEXT"}),
    (
        "TLS with our CA",
        {"ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SSL", "ACTIONLOG_KAFKA_SSL_CA_FILE": "{tls}/ca.pem"},
        {"security_protocol": "SSL", "ssl_context": TLS_OURS},
    ),
    (
        "TLS, the system's CAs, no host name check (the chain still verified)",
        {"ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "ssl", "ACTIONLOG_KAFKA_SSL_CHECK_HOSTNAME": "false"},
        {"security_protocol": "SSL", "ssl_context": {"ca": "system", "verify": True, "check_hostname": False}},
    ),
    (
        "mutual TLS, key in its own file",
        {
            "ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SSL",
            "ACTIONLOG_KAFKA_SSL_CA_FILE": "{tls}/ca.pem",
            "ACTIONLOG_KAFKA_SSL_CERT_FILE": "{tls}/client.pem",
            "ACTIONLOG_KAFKA_SSL_KEY_FILE": "{tls}/client.key",
        },
        {"security_protocol": "SSL", "ssl_context": TLS_OURS},
    ),
    (
        "mutual TLS, encrypted key",
        {
            "ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SSL",
            "ACTIONLOG_KAFKA_SSL_CA_FILE": "{tls}/ca.pem",
            "ACTIONLOG_KAFKA_SSL_CERT_FILE": "{tls}/client.pem",
            "ACTIONLOG_KAFKA_SSL_KEY_FILE": "{tls}/client-encrypted.key",
            "ACTIONLOG_KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,
        },
        {"security_protocol": "SSL", "ssl_context": TLS_OURS},
    ),
    (
        "SASL SCRAM-SHA-512 over TLS",
        {
            "ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ACTIONLOG_KAFKA_SSL_CA_FILE": "{tls}/ca.pem",
            "ACTIONLOG_KAFKA_SASL_MECHANISM": "scram-sha-512",
            "ACTIONLOG_KAFKA_SASL_USERNAME": "svc-actionlog",
            "ACTIONLOG_KAFKA_SASL_PASSWORD": PASSWORD,
        },
        {
            "security_protocol": "SASL_SSL",
            "ssl_context": TLS_OURS,
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": "svc-actionlog",
            "sasl_plain_password": PASSWORD,
        },
    ),
    (
        "SASL SCRAM-SHA-256 over TLS",
        {
            "ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ACTIONLOG_KAFKA_SSL_CA_FILE": "{tls}/ca.pem",
            "ACTIONLOG_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
            "ACTIONLOG_KAFKA_SASL_USERNAME": "svc-actionlog",
            "ACTIONLOG_KAFKA_SASL_PASSWORD": PASSWORD,
        },
        {
            "security_protocol": "SASL_SSL",
            "ssl_context": TLS_OURS,
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_plain_username": "svc-actionlog",
            "sasl_plain_password": PASSWORD,
        },
    ),
    (
        "SASL PLAIN without TLS (mechanism by default)",
        {
            "ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "ACTIONLOG_KAFKA_SASL_USERNAME": "svc-actionlog",
            "ACTIONLOG_KAFKA_SASL_PASSWORD": PASSWORD,
        },
        {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "sasl_plain_username": "svc-actionlog",
            "sasl_plain_password": PASSWORD,
        },
    ),
]
IDS = [row[0] for row in ROWS]


@pytest.mark.parametrize(("name", "row", "expected"), ROWS, ids=IDS)
def test_every_client_gets_the_security_options(
    tls: Path, name: str, row: dict[str, str], expected: dict[str, Any]
) -> None:
    kafka = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k1:9093,k2:9093", **env_of(tls, row)}).kafka
    assert described(connection_options(kafka), tls) == {"bootstrap_servers": "k1:9093,k2:9093", **expected}
    clients = {
        "admin": admin_options(kafka),
        "producer": producer_options(kafka),
        "consumer": group_consumer_options(
            kafka, group_id="g", role="sink", max_poll_records=1, max_partition_fetch_bytes=1024
        ),
    }
    for client, options in clients.items():
        security = {k: v for k, v in described(options, tls).items() if k in expected}
        assert security == expected, client


@pytest.mark.parametrize(("name", "row", "expected"), ROWS, ids=IDS)
def test_the_faust_app_gets_the_same_security(
    tls: Path, name: str, row: dict[str, str], expected: dict[str, Any]
) -> None:
    """Faust turns its credentials into aiokafka options itself: they must be ours."""
    settings = Settings.from_env(env_of(tls, row))
    app = create_app(settings, Metrics(), AvroCodec())
    assert app.conf.broker_credentials is not None or expected == {"security_protocol": "PLAINTEXT"}
    faust_options = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    assert described(faust_options, tls) == expected
    assert PASSWORD not in repr(app.conf.broker_credentials)


def test_the_default_is_plaintext_without_credentials() -> None:
    assert KafkaSecurity.from_env({}) == KafkaSecurity()
    assert faust_credentials(KafkaSecurity()) is None
    assert connection_options(Settings.from_env({}).kafka) == {
        "bootstrap_servers": "localhost:9092",
        "security_protocol": "PLAINTEXT",
    }


SASL = {
    "ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "ACTIONLOG_KAFKA_SASL_USERNAME": "u",
    "ACTIONLOG_KAFKA_SASL_PASSWORD": PASSWORD,
}
SSL_OURS = {"ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SSL", "ACTIONLOG_KAFKA_SSL_CA_FILE": "{tls}/ca.pem"}


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ({"ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "TLS"}, "ACTIONLOG_KAFKA_SECURITY_PROTOCOL='TLS' must be one of"),
        ({**SASL, "ACTIONLOG_KAFKA_SASL_USERNAME": ""}, "ACTIONLOG_KAFKA_SASL_USERNAME is required"),
        ({**SASL, "ACTIONLOG_KAFKA_SASL_PASSWORD": ""}, "ACTIONLOG_KAFKA_SASL_PASSWORD is required"),
        ({**SASL, "ACTIONLOG_KAFKA_SASL_MECHANISM": "GSSAPI"}, "ACTIONLOG_KAFKA_SASL_MECHANISM='GSSAPI' must be"),
        ({"ACTIONLOG_KAFKA_SASL_USERNAME": "u"}, "ACTIONLOG_KAFKA_SASL_USERNAME is set but .*=PLAINTEXT does not"),
        ({"ACTIONLOG_KAFKA_SASL_MECHANISM": "PLAIN"}, "ACTIONLOG_KAFKA_SASL_MECHANISM is set but"),
        ({"ACTIONLOG_KAFKA_SSL_CA_FILE": "{tls}/ca.pem"}, "ACTIONLOG_KAFKA_SSL_CA_FILE is set but .* does not use TLS"),
        (
            {**SASL, "ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "ACTIONLOG_KAFKA_SSL_CA_FILE": "x"},
            "ACTIONLOG_KAFKA_SSL_CA_FILE is set but .*=SASL_PLAINTEXT does not use TLS",
        ),
        ({"ACTIONLOG_KAFKA_SSL_CHECK_HOSTNAME": "false"}, "ACTIONLOG_KAFKA_SSL_CHECK_HOSTNAME is set but"),
        ({**SSL_OURS, "ACTIONLOG_KAFKA_SSL_CA_FILE": "{tls}/nope.pem"}, "ACTIONLOG_KAFKA_SSL_CA_FILE=.*: no such file"),
        ({**SSL_OURS, "ACTIONLOG_KAFKA_SSL_CA_FILE": "{tls}"}, "ACTIONLOG_KAFKA_SSL_CA_FILE=.*: not a regular file"),
        (
            {**SSL_OURS, "ACTIONLOG_KAFKA_SSL_CA_FILE": "{tls}/ca.key"},
            "ACTIONLOG_KAFKA_SSL_CA_FILE=.*: no CA certificate loads",
        ),
        ({**SSL_OURS, "ACTIONLOG_KAFKA_SSL_CHECK_HOSTNAME": "maybe"}, "ACTIONLOG_KAFKA_SSL_CHECK_HOSTNAME='maybe'"),
        (
            {**SSL_OURS, "ACTIONLOG_KAFKA_SSL_KEY_FILE": "{tls}/client.key"},
            "ACTIONLOG_KAFKA_SSL_KEY_FILE is set without ACTIONLOG_KAFKA_SSL_CERT_FILE",
        ),
        (
            {**SSL_OURS, "ACTIONLOG_KAFKA_SSL_CERT_FILE": "{tls}/client.pem"},  # the key is not in it
            "ACTIONLOG_KAFKA_SSL_CERT_FILE=.*: the client certificate and its key do not load",
        ),
        (
            {
                **SSL_OURS,
                "ACTIONLOG_KAFKA_SSL_CERT_FILE": "{tls}/client.pem",
                "ACTIONLOG_KAFKA_SSL_KEY_FILE": "{tls}/server.key",
            },
            "ACTIONLOG_KAFKA_SSL_CERT_FILE=.*: the client certificate and its key do not load",
        ),
        (
            {
                **SSL_OURS,
                "ACTIONLOG_KAFKA_SSL_CERT_FILE": "{tls}/client.pem",
                "ACTIONLOG_KAFKA_SSL_KEY_FILE": "{tls}/client-encrypted.key",
            },
            "ACTIONLOG_KAFKA_SSL_CERT_FILE=.*: the client certificate and its key do not load",
        ),
        (
            {
                **SSL_OURS,
                "ACTIONLOG_KAFKA_SSL_CERT_FILE": "{tls}/client.pem",
                "ACTIONLOG_KAFKA_SSL_KEY_FILE": "{tls}/client-encrypted.key",
                "ACTIONLOG_KAFKA_SSL_KEY_PASSWORD": "wrong-" + KEY_PASSWORD,
            },
            "ACTIONLOG_KAFKA_SSL_CERT_FILE=.*: the client certificate and its key do not load",
        ),
    ],
)
def test_inconsistent_settings_are_refused_naming_the_variable(tls: Path, row: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        Settings.from_env(env_of(tls, row))
    message = str(info.value)
    assert "\n" not in message
    assert PASSWORD not in message and KEY_PASSWORD not in message


def test_secrets_never_show_in_settings(tls: Path) -> None:
    row = {
        **SASL,
        "ACTIONLOG_KAFKA_SSL_CA_FILE": "{tls}/ca.pem",
        "ACTIONLOG_KAFKA_SSL_CERT_FILE": "{tls}/client.pem",
        "ACTIONLOG_KAFKA_SSL_KEY_FILE": "{tls}/client-encrypted.key",
        "ACTIONLOG_KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,
    }
    settings = Settings.from_env(env_of(tls, row))
    security = settings.kafka.security
    assert security.password is not None and security.password.reveal() == PASSWORD
    assert security.key_password is not None and security.key_password.reveal() == KEY_PASSWORD
    for text in (repr(settings), str(settings), repr(security), str(security.password), f"{security.key_password}"):
        assert PASSWORD not in text and KEY_PASSWORD not in text
    assert "password=Secret('***')" in repr(security)
    assert PASSWORD not in repr(faust_credentials(security))


def test_a_bad_kafka_setting_exits_2_with_one_line_before_any_connection(tls: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "actionlog", "topics", "create"],
        env={
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "ACTIONLOG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ACTIONLOG_KAFKA_SASL_PASSWORD": PASSWORD,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res.stderr
    assert res.stderr.splitlines() == [
        "actionlog: bad setting: ACTIONLOG_KAFKA_SASL_USERNAME is required with "
        "ACTIONLOG_KAFKA_SECURITY_PROTOCOL=SASL_SSL"
    ]


def test_a_refused_connection_says_why() -> None:
    """aiokafka logs the reason of a failed connection and raises only "Unable to bootstrap"."""
    client_log = logging.getLogger("aiokafka.client")
    with explained() as failures:
        assert failures.describe(OSError("Unable to bootstrap")) == "Unable to bootstrap"
        client_log.error('Unable connect to "%s:%s": %s', "k1", 9093, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate")
        described_error = failures.describe(OSError("Unable to bootstrap from [k1:9093]"))
    assert described_error == (
        "Unable to bootstrap from [k1:9093] "
        '(last error: Unable connect to "k1:9093": [SSL: CERTIFICATE_VERIFY_FAILED] certificate)'
    )
    assert failures not in logging.getLogger("aiokafka").handlers
