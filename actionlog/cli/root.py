"""The ``actionlog`` click group and what every command shares: settings and exit codes."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from actionlog.core.errors import BrokerUnavailable
from actionlog.core.settings import Settings
from actionlog.kafka.failures import explained

__all__ = ["EXIT_LOCKED", "EXIT_OK", "EXIT_UNAVAILABLE", "EXIT_USAGE", "cli", "run_kafka", "settings_of"]

EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


def settings_of(ctx: click.Context) -> Settings:
    """The settings `main` built once for this invocation."""
    settings: Settings = ctx.find_root().obj["settings"]
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="actionlog")
def cli() -> None:
    """The Content Actions Log: normalize learner actions, land them, report on them."""


def run_kafka(coro: Any) -> Any:
    """Run a Kafka coroutine; a broker that cannot be reached is `BrokerUnavailable` (exit 1)."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    with explained() as failures:
        try:
            return asyncio.run(coro)
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            raise BrokerUnavailable(f"Kafka unreachable: {failures.describe(exc)}") from None
