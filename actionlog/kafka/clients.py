"""Options of every Kafka client of the project, in one place."""

from __future__ import annotations

from typing import Any

from actionlog.core.settings import KafkaSettings

__all__ = ["admin_options", "group_consumer_options", "producer_options"]


def connection_options(kafka: KafkaSettings) -> dict[str, Any]:
    """What every client needs to reach the cluster."""
    return {"bootstrap_servers": kafka.bootstrap_servers}


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
