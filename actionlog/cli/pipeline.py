"""The pipeline's stages as commands: ``worker``, ``topics create``, ``dlq replay``, ``set-aside replay``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import click

from actionlog.cli.root import cli, run_kafka, settings_of
from actionlog.core.avro import AvroCodec, AvroDecodeError
from actionlog.core.errors import BadParameter
from actionlog.core.privacy import Suppressed, learner_of_upstream
from actionlog.core.record import REASONS, SET_ASIDE_REASONS
from actionlog.core.settings import Settings
from actionlog.kafka.replay import Letters, replay
from actionlog.kafka.topics import ensure_topics
from actionlog.store import open_store
from actionlog.store.erasure import load_suppressions
from actionlog.store.erasure_key import with_erasure_key

__all__ = ["dlq_replay", "set_aside_replay", "topics_create", "worker"]


@cli.command()
@click.option("--loglevel", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--sink/--no-sink", default=True, show_default=True, help="Land the event log in ClickHouse.")
@click.option("--http/--no-http", default=True, show_default=True, help="Serve reports and /metrics.")
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=None,
    help="Normalizer processes (default ACTIONLOG_WORKER_PROCESSES, 1: in the worker's own process).",
)
@click.pass_context
def worker(ctx: click.Context, loglevel: str, sink: bool, http: bool, processes: int | None) -> None:
    """Run the worker: normalizer agent, ClickHouse sink and HTTP server (reports, /metrics)."""
    # Imported here, not at the top: Faust costs ~1 s to import and only the worker needs it.
    from actionlog.worker import run_worker

    for name in ("clickhouse_connect", "aiokafka"):
        logging.getLogger(name).propagate = True
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_of(ctx)
    if processes is not None:
        settings = replace(settings, worker=replace(settings.worker, processes=processes))
    run_worker(settings, loglevel=loglevel, sink=sink, http=http)


@cli.group()
def topics() -> None:
    """Kafka topics."""


@topics.command("create")
@click.pass_context
def topics_create(ctx: click.Context) -> None:
    """Create the input, log, dead-letter and set-aside topics with their partition counts (idempotent)."""
    created = run_kafka(ensure_topics(settings_of(ctx).kafka))
    click.echo(f"created: {', '.join(created)}" if created else "all topics exist")


@cli.group()
def dlq() -> None:
    """The dead-letter topic."""


def _replay_options(f: Any) -> Any:
    options = [
        click.option("--reason", "reasons", multiple=True, help="Only letters with this reason code. Repeatable."),
        click.option(
            "--max-replays",
            default=3,
            show_default=True,
            type=click.IntRange(1),
            help="Re-drive one message at most N times.",
        ),
        click.option(
            "--from-beginning", is_flag=True, help="Rescan the whole topic, not just what arrived since the last run."
        ),
        click.option("--dry-run", is_flag=True, help="Count what would be re-driven; send nothing, move nothing."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _suppressed(settings: Settings) -> Suppressed:
    """The suppression list as the store holds it now (replays never re-drive erased learners)."""
    settings = with_erasure_key(settings, create=False)
    ch = settings.clickhouse
    key = settings.privacy.erasure_key
    store = open_store(ch, role="replay")
    try:
        return load_suppressions(store, ch.database, key.reveal().encode() if key is not None else None)[1]
    finally:
        store.close()


def _erased_upstream(suppressed: Suppressed) -> Callable[[bytes | None], bool]:
    return lambda raw: suppressed.erased(*learner_of_upstream(raw))


def _erased_record(suppressed: Suppressed) -> Callable[[bytes | None], bool]:
    codec = AvroCodec()

    def erased(raw: bytes | None) -> bool:
        try:
            record = codec.decode(raw or b"")
        except AvroDecodeError:  # not readable here: the sink checks it again if it ever lands
            return False
        return suppressed.erased(str(record.get("learner_id", "")), str(record.get("email", "")))

    return erased


def _replay(
    ctx: click.Context,
    letters: Letters,
    known: tuple[str, ...],
    check: Callable[[Suppressed], Callable[[bytes | None], bool]],
    **kw: Any,
) -> None:
    reasons: tuple[str, ...] = kw.pop("reasons")
    unknown = sorted(set(reasons) - set(known))
    if unknown:
        raise BadParameter("reason", f"unknown reason {unknown[0]!r}; known: {', '.join(known)}")
    settings = settings_of(ctx)
    suppressed = _suppressed(settings)
    erased = check(suppressed) if suppressed else None
    result = run_kafka(replay(settings, letters, reasons=frozenset(reasons), erased=erased, **kw))
    click.echo(("dry run: would have " if kw["dry_run"] else "") + result.summary())


@dlq.command("replay")
@_replay_options
@click.pass_context
def dlq_replay(ctx: click.Context, **kw: Any) -> None:
    """Re-drive dead letters to their source topics (e.g. after adding a Source to the catalog)."""
    _replay(ctx, Letters.dead_letters(settings_of(ctx)), REASONS, _erased_upstream, **kw)


@cli.group("set-aside")
def set_aside() -> None:
    """Log records the sink set aside (the store would not take them)."""


@set_aside.command("replay")
@_replay_options
@click.pass_context
def set_aside_replay(ctx: click.Context, **kw: Any) -> None:
    """Send set-aside records back to the log topic, to be landed again (e.g. after fixing the table)."""
    _replay(ctx, Letters.set_aside(settings_of(ctx)), SET_ASIDE_REASONS, _erased_record, **kw)
