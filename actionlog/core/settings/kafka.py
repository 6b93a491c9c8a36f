"""Kafka: brokers, topic names and the sizes of the topics the project creates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from actionlog.core import env as e
from actionlog.core.catalog import TYPES
from actionlog.core.settings.kafka_security import KafkaSecurity
from actionlog.core.settings.privacy import retention_days


@dataclass(frozen=True)
class TopicSettings:
    """Topic names (``ACTIONLOG_TOPIC_*``) and the partitions/limits of the topics we create."""

    enrollments: str = "lms.enrollments"
    status_changes: str = "lms.status-changes"
    access_revocations: str = "lms.access-revocations"
    certificate_grants: str = "lms.certificate-grants"
    log: str = "content-actions-log"
    dlq: str = "content-actions-log.dlq"
    #: Log records the store could not take, set aside by the sink (``actionlog set-aside replay``).
    set_aside: str = "content-actions-log.set-aside"
    input_partitions: int = 3
    log_partitions: int = 3
    replication: int = 1
    #: Largest upstream message accepted (``max.message.bytes`` of the input topics). The
    #: dead-letter topic gets 1 MiB more, so that any input message fits there with our headers.
    max_message_bytes: int = 10 * 1024 * 1024
    #: ``ACTIONLOG_RETENTION_DAYS``: how long the input and log topics keep records (None: the broker's default).
    retention_days: int | None = None
    #: How long the dead-letter and set-aside topics keep records (they hold raw personal data);
    #: never longer than ``retention_days``.
    dlq_retention_days: int = 14

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TopicSettings:
        d = cls()
        return cls(
            enrollments=e.text(env, "ACTIONLOG_TOPIC_ENROLLMENTS", d.enrollments),
            status_changes=e.text(env, "ACTIONLOG_TOPIC_STATUS_CHANGES", d.status_changes),
            access_revocations=e.text(env, "ACTIONLOG_TOPIC_ACCESS_REVOCATIONS", d.access_revocations),
            certificate_grants=e.text(env, "ACTIONLOG_TOPIC_CERTIFICATE_GRANTS", d.certificate_grants),
            log=e.text(env, "ACTIONLOG_TOPIC_LOG", d.log),
            dlq=e.text(env, "ACTIONLOG_TOPIC_DLQ", d.dlq),
            set_aside=e.text(env, "ACTIONLOG_TOPIC_SET_ASIDE", d.set_aside),
            input_partitions=e.integer(env, "ACTIONLOG_TOPIC_INPUT_PARTITIONS", d.input_partitions),
            log_partitions=e.integer(env, "ACTIONLOG_TOPIC_LOG_PARTITIONS", d.log_partitions),
            replication=e.integer(env, "ACTIONLOG_TOPIC_REPLICATION", d.replication),
            max_message_bytes=e.integer(env, "ACTIONLOG_TOPIC_MAX_MESSAGE_BYTES", d.max_message_bytes, minimum=1024),
            retention_days=retention_days(env),
            dlq_retention_days=e.integer(
                env, "ACTIONLOG_TOPIC_DLQ_RETENTION_DAYS", d.dlq_retention_days, minimum=1, maximum=36_500
            ),
        )

    @property
    def type_by_topic(self) -> dict[str, str]:
        """Input topic name -> the action type it carries."""
        names = (self.enrollments, self.status_changes, self.access_revocations, self.certificate_grants)
        return dict(zip(names, TYPES, strict=True))

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.type_by_topic)

    @property
    def retention_ms(self) -> int | None:
        """``retention.ms`` of the input and log topics, or None (the broker's default)."""
        return None if self.retention_days is None else self.retention_days * 86_400_000

    @property
    def dlq_retention_ms(self) -> int:
        """``retention.ms`` of the dead-letter and set-aside topics."""
        days = (
            self.dlq_retention_days
            if self.retention_days is None
            else min(self.dlq_retention_days, self.retention_days)
        )
        return days * 86_400_000

    @property
    def dlq_max_message_bytes(self) -> int:
        return self.max_message_bytes + 1024 * 1024


@dataclass(frozen=True)
class KafkaSettings:
    """Kafka connection (``KAFKA_BOOTSTRAP_SERVERS``, ``ACTIONLOG_KAFKA_*``), its security and topics."""

    bootstrap_servers: str = "localhost:9092"
    topics: TopicSettings = field(default_factory=TopicSettings)
    security: KafkaSecurity = field(default_factory=KafkaSecurity)
    #: Seconds without heartbeat before a crashed consumer's partitions move to another worker.
    session_timeout: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSettings:
        return cls(
            bootstrap_servers=e.text(env, "KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            topics=TopicSettings.from_env(env),
            security=KafkaSecurity.from_env(env),
            session_timeout=e.number(env, "ACTIONLOG_KAFKA_SESSION_TIMEOUT", cls.session_timeout),
        )
