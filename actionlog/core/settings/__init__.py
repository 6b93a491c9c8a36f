"""Settings, one frozen dataclass per component, each read from its own environment prefix.

Settings are built once at the entry point (``Settings.from_env()``) and passed down; nothing
reads the environment anywhere else, and nothing at import time. ``repr()`` of any settings
object masks secrets. Every variable is documented in ``.env.example`` and docs/operations.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from actionlog.core import env as e
from actionlog.core.seams import Seams
from actionlog.core.settings.clickhouse import ClickHouseSettings
from actionlog.core.settings.kafka import KafkaSettings, TopicSettings
from actionlog.core.settings.kafka_security import KafkaSecurity
from actionlog.core.settings.privacy import PrivacySettings
from actionlog.core.settings.stages import (
    ExportSettings,
    HttpSettings,
    ProcessorSettings,
    SinkSettings,
    WorkerSettings,
)

__all__ = [
    "ClickHouseSettings",
    "ExportSettings",
    "HttpSettings",
    "KafkaSecurity",
    "KafkaSettings",
    "PrivacySettings",
    "ProcessorSettings",
    "Settings",
    "SinkSettings",
    "TopicSettings",
    "WorkerSettings",
]


@dataclass(frozen=True)
class Settings:
    """All settings of one actionlog process.

    Attributes:
        debug: ``ACTIONLOG_DEBUG``: an unexpected error shows its traceback (never set in production).
        seams: the failure drills' test seams (all off unless an ``ACTIONLOG_TEST_*`` variable is set).
    """

    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = field(default_factory=ClickHouseSettings)
    processor: ProcessorSettings = field(default_factory=ProcessorSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    sink: SinkSettings = field(default_factory=SinkSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    seams: Seams = field(default_factory=Seams)
    debug: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            kafka=KafkaSettings.from_env(env),
            clickhouse=ClickHouseSettings.from_env(env),
            processor=ProcessorSettings.from_env(env),
            worker=WorkerSettings.from_env(env),
            sink=SinkSettings.from_env(env),
            http=HttpSettings.from_env(env),
            export=ExportSettings.from_env(env),
            privacy=PrivacySettings.from_env(env),
            seams=Seams.from_env(env),
            debug=e.flag(env, "ACTIONLOG_DEBUG"),
        )
