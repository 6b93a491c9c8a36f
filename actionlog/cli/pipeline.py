"""The pipeline's stages as commands: ``worker``, ``topics create``, ``dlq replay``."""

from __future__ import annotations

import logging

import click

from actionlog.cli.root import cli, run_kafka, settings_of
from actionlog.core.errors import BadParameter
from actionlog.core.record import REASONS
from actionlog.kafka.topics import ensure_topics
from actionlog.processor.replay import replay

__all__ = ["dlq_replay", "topics_create", "worker"]


@cli.command()
@click.option("--loglevel", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--sink/--no-sink", default=True, show_default=True, help="Land the event log in ClickHouse.")
@click.option("--http/--no-http", default=True, show_default=True, help="Serve reports and /metrics.")
@click.pass_context
def worker(ctx: click.Context, loglevel: str, sink: bool, http: bool) -> None:
    """Run the worker: normalizer agent, ClickHouse sink and HTTP server (reports, /metrics)."""
    # Imported here, not at the top: Faust costs ~1 s to import and only the worker needs it.
    from actionlog.worker import run_worker

    for name in ("clickhouse_connect", "aiokafka"):
        logging.getLogger(name).propagate = True
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(settings_of(ctx), loglevel=loglevel, sink=sink, http=http)


@cli.group()
def topics() -> None:
    """Kafka topics."""


@topics.command("create")
@click.pass_context
def topics_create(ctx: click.Context) -> None:
    """Create the input, log and dead-letter topics with their partition counts (idempotent)."""
    created = run_kafka(ensure_topics(settings_of(ctx).kafka))
    click.echo(f"created: {', '.join(created)}" if created else "all topics exist")


@cli.group()
def dlq() -> None:
    """The dead-letter topic."""


@dlq.command("replay")
@click.option("--reason", "reasons", multiple=True, help="Only dead letters with this reason code. Repeatable.")
@click.option(
    "--max-replays", default=3, show_default=True, type=click.IntRange(1), help="Re-drive one event at most N times."
)
@click.option(
    "--from-beginning",
    is_flag=True,
    help="Rescan the whole dead-letter topic, not just what arrived since the last run.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be re-driven; send nothing, move nothing.")
@click.pass_context
def dlq_replay(
    ctx: click.Context, reasons: tuple[str, ...], max_replays: int, from_beginning: bool, dry_run: bool
) -> None:
    """Re-drive dead letters to their source topics (e.g. after adding a Source to the catalog)."""
    unknown = sorted(set(reasons) - set(REASONS))
    if unknown:
        raise BadParameter("reason", f"unknown reason {unknown[0]!r}; known: {', '.join(REASONS)}")
    result = run_kafka(
        replay(
            settings_of(ctx),
            reasons=frozenset(reasons),
            max_replays=max_replays,
            from_beginning=from_beginning,
            dry_run=dry_run,
        )
    )
    click.echo(("dry run: would have " if dry_run else "") + result.summary())
