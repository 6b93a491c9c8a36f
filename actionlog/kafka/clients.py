"""Options of every Kafka client of the project, in one place (the Faust app takes the same
security from `security_options`, see `actionlog.processor.faust_engine`)."""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context

from actionlog.core.settings import KafkaSecurity, KafkaSettings
from actionlog.core.settings.kafka_security import key_password

__all__ = [
    "admin_options",
    "connection_options",
    "group_consumer_options",
    "producer_options",
    "security_options",
    "ssl_context",
]


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext:
    """The TLS context of the clients: the brokers' certificates verified against ``ca_file`` (or
    the system's CAs), the host name checked unless turned off, the client certificate if any."""
    context = create_ssl_context(
        cafile=security.ca_file,
        certfile=security.cert_file,
        keyfile=security.key_file,
        password=key_password(security) if security.cert_file else None,
    )
    context.check_hostname = security.check_hostname
    return context


def security_options(security: KafkaSecurity) -> dict[str, Any]:
    """aiokafka's security options (``security_protocol``, ``ssl_context``, ``sasl_*``)."""
    options: dict[str, Any] = {"security_protocol": security.protocol}
    if security.tls:
        options["ssl_context"] = ssl_context(security)
    if security.sasl:
        options["sasl_mechanism"] = security.sasl_mechanism
        options["sasl_plain_username"] = security.username
        options["sasl_plain_password"] = security.password.reveal() if security.password else ""
    return options


def connection_options(kafka: KafkaSettings) -> dict[str, Any]:
    """What every client needs to reach the cluster: the brokers and the security settings."""
    return {"bootstrap_servers": kafka.bootstrap_servers, **security_options(kafka.security)}


def admin_options(kafka: KafkaSettings) -> dict[str, Any]:
    return {**connection_options(kafka), "client_id": "actionlog-admin"}


def group_consumer_options(
    kafka: KafkaSettings, *, group_id: str, role: str, max_poll_records: int, max_partition_fetch_bytes: int
) -> dict[str, Any]:
    """Options of our plain aiokafka group consumers (normalizer engine, sink): manual commits."""
    return {
        **connection_options(kafka),
        "group_id": group_id,
        "client_id": f"{group_id}-{role}",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": max_poll_records,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": max_partition_fetch_bytes,
        "session_timeout_ms": int(kafka.session_timeout * 1000),
        "heartbeat_interval_ms": int(kafka.session_timeout * 250),
    }


def producer_options(kafka: KafkaSettings, *, max_request_size: int | None = None) -> dict[str, Any]:
    """A durable producer: every send acknowledged by all in-sync replicas, idempotent."""
    return {
        **connection_options(kafka),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_batch_size": 1 << 20,
        "max_request_size": max_request_size or kafka.topics.dlq_max_message_bytes + 64 * 1024,
    }
