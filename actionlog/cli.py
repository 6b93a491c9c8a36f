"""The ``actionlog`` command: each pipeline stage is a subcommand.

Exit codes: 0 success; 1 the store or broker cannot be reached / failed; 2 bad arguments or
settings (one line saying which and why); 3 another run of the same export job is running.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from actionlog.errors import ActionlogError, BadParameter, BrokerUnavailable, ConfigError, ExportLocked, StoreError
from actionlog.settings import Settings

EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


def _settings(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = Settings.from_env()
    settings: Settings = obj["settings"]
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="actionlog")
def cli() -> None:
    """The Content Actions Log: normalize learner actions, land them, report on them."""


@cli.command()
@click.option("--loglevel", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--sink/--no-sink", default=True, show_default=True, help="Land the event log in ClickHouse.")
@click.option("--http/--no-http", default=True, show_default=True, help="Serve reports, exports and /metrics.")
@click.pass_context
def worker(ctx: click.Context, loglevel: str, sink: bool, http: bool) -> None:
    """Run the worker: normalizer agent, ClickHouse sink and HTTP server (reports, /metrics)."""
    from actionlog.worker import run_worker

    settings = _settings(ctx)
    for name in ("clickhouse_connect", "aiokafka"):
        logging.getLogger(name).propagate = True
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(settings, loglevel=loglevel, sink=sink, http=http)


@cli.group()
def topics() -> None:
    """Kafka topics."""


@topics.command("create")
@click.pass_context
def topics_create(ctx: click.Context) -> None:
    """Create the input, log and dead-letter topics with their partition counts (idempotent)."""
    from processor.topics import ensure_topics

    created = _run_kafka(ensure_topics(_settings(ctx).kafka))
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
    from processor.records import REASONS
    from processor.replay import replay

    unknown = sorted(set(reasons) - set(REASONS))
    if unknown:
        raise BadParameter("reason", f"unknown reason {unknown[0]!r}; known: {', '.join(REASONS)}")
    result = _run_kafka(
        replay(
            _settings(ctx),
            reasons=frozenset(reasons),
            max_replays=max_replays,
            from_beginning=from_beginning,
            dry_run=dry_run,
        )
    )
    click.echo(("dry run: would have " if dry_run else "") + result.summary())


def filter_options(f: Any) -> Any:
    """The report filters of CONTRACT §5 (shared by report and export)."""
    options = [
        click.option("--from", "from_", metavar="DATE|DATETIME", help="YYYY-MM-DD (whole day, in --tz) or RFC 3339."),
        click.option("--to", "to", metavar="DATE|DATETIME", help="YYYY-MM-DD (inclusive) or RFC 3339 (exclusive)."),
        click.option("--panorama", multiple=True, help="Panorama id or name (case-insensitive). Repeatable."),
        click.option("--content", multiple=True, help="Content id. Repeatable."),
        click.option("--learner", multiple=True, help="Learner id or email (case-insensitive). Repeatable."),
        click.option("--type", "type_", multiple=True, help="Action type. Repeatable."),
        click.option("--source", multiple=True, help="Action source (aliases accepted). Repeatable."),
        click.option("--course-group", multiple=True, help="Course group id. Repeatable."),
        click.option("--content-type", multiple=True, help="Content type (case-insensitive). Repeatable."),
        click.option("--format", "fmt", default="csv", show_default=True, help="csv, json or ndjson."),
        click.option("--tz", default="UTC", show_default=True, help="IANA time zone of dates and timestamps."),
        click.option(
            "--csv-formula-guard/--no-csv-formula-guard",
            default=True,
            show_default=True,
            help="Prefix CSV cells that a spreadsheet would run as a formula with a quote (OWASP).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def report_params(kw: dict[str, Any], limit: str | None = None) -> dict[str, list[str]]:
    """Click's values as the mapping parse_report_params takes (names as in the HTTP API)."""
    params: dict[str, list[str]] = {}
    singles = {"from": kw.get("from_"), "to": kw.get("to"), "format": kw.get("fmt"), "tz": kw.get("tz")}
    for name, value in singles.items():
        if value is not None:
            params[name] = [value]
    if limit is not None:
        params["limit"] = [limit]
    params["csv-formula-guard"] = ["true" if kw.get("csv_formula_guard", True) else "false"]
    multi = {
        "panorama": "panorama",
        "content": "content",
        "learner": "learner",
        "type": "type_",
        "source": "source",
        "course-group": "course_group",
        "content-type": "content_type",
    }
    for name, key in multi.items():
        values: Sequence[str] = kw.get(key) or ()
        if values:
            params[name] = list(values)
    return params


@cli.command()
@filter_options
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here (atomically).")
@click.option("--limit", metavar="N", help="At most N rows.")
@click.pass_context
def report(ctx: click.Context, output: Path | None, limit: str | None, **kw: Any) -> None:
    """Print the Content Actions Log for the given filters (CSV, JSON or NDJSON)."""
    from query.filters import parse_report_params

    settings = _settings(ctx)
    params = report_params(kw, limit)
    parse_report_params(params, now=datetime.now(UTC))  # validate here: exit 2 before any I/O
    if output is not None:
        _check_output(output)
    chunks = _report_source(settings, params)
    _emit(chunks, output)


@cli.command()
@click.option("--job", required=True, help="Job name: its own watermark, lock and file names.")
@click.option("--output-dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Where files land.")
@filter_options
@click.option("--dry-run", is_flag=True, help="Say how many rows the next run would export; write nothing.")
@click.pass_context
def export(ctx: click.Context, job: str, output_dir: Path, dry_run: bool, **kw: Any) -> None:
    """Write one new file with the rows that landed since this job's last successful run."""
    from query.export import run_export

    result = run_export(_settings(ctx), job=job, output_dir=output_dir, params=report_params(kw), dry_run=dry_run)
    click.echo(result.summary(), err=True)


def _report_source(settings: Settings, params: dict[str, list[str]]) -> Iterator[bytes]:
    """The body: from the running worker over HTTP when it holds the embedded store, else direct."""
    from query.client import fetch_report
    from query.filters import parse_report_params
    from query.run import report_chunks
    from sink.store import Store, worker_endpoint

    endpoint = worker_endpoint(settings.clickhouse)
    if endpoint is not None:
        return fetch_report(endpoint, params)
    filters = parse_report_params(params, now=datetime.now(UTC))

    def direct() -> Iterator[bytes]:
        with Store(settings.clickhouse).connect() as store:
            yield from report_chunks(store, filters)

    return direct()


def _check_output(output: Path) -> None:
    parent = output.expanduser().absolute().parent
    if output.expanduser().is_dir():
        raise BadParameter("output", f"{str(output)!r} is a directory")
    if not parent.is_dir():
        raise BadParameter("output", f"directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadParameter("output", f"directory {str(parent)!r} is not writable")


def _emit(chunks: Iterator[bytes], output: Path | None) -> None:
    from actionlog.output import write_atomically, write_stream

    # Pull the first chunk before touching the output, so a store error leaves nothing behind.
    first = next(chunks, b"")

    def all_chunks() -> Iterator[bytes]:
        yield first
        yield from chunks

    if output is None:
        try:
            write_stream(sys.stdout.buffer, all_chunks())
        except BrokenPipeError:
            sys.stderr.close()
    else:
        write_atomically(output, all_chunks(), progress=True)


def _run_kafka(coro: Any) -> Any:
    from aiokafka.errors import KafkaConnectionError, KafkaError

    try:
        return asyncio.run(coro)
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        raise BrokerUnavailable(f"Kafka unreachable: {exc}") from None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: runs the CLI, turning expected errors into one line and an exit code."""
    # Drivers log their own copy of errors we report in one line; the worker configures logging itself.
    for name in ("clickhouse_connect", "aiokafka"):
        logging.getLogger(name).addHandler(logging.NullHandler())
        logging.getLogger(name).propagate = False
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="actionlog", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        name = exc.ctx.command_path if exc.ctx else "actionlog"
        _fail(EXIT_USAGE, f"{name}: {exc.format_message()}")
    except click.Abort:
        _fail(130, "aborted")
    except BadParameter as exc:
        _fail(EXIT_USAGE, f"actionlog: {exc}")
    except ConfigError as exc:
        _fail(EXIT_USAGE, f"actionlog: bad setting: {exc}")
    except ExportLocked as exc:
        _fail(EXIT_LOCKED, f"actionlog: {exc}")
    except (StoreError, BrokerUnavailable) as exc:
        _fail(EXIT_UNAVAILABLE, f"actionlog: {exc}")
    except ActionlogError as exc:
        _fail(EXIT_UNAVAILABLE, f"actionlog: {exc}")
    except KeyboardInterrupt:
        _fail(130, "interrupted")
    except OSError as exc:
        _fail(EXIT_UNAVAILABLE, f"actionlog: {exc}")
    except Exception as exc:  # never a traceback for a user; ACTIONLOG_DEBUG=1 shows it
        if os.environ.get("ACTIONLOG_DEBUG"):
            raise
        _fail(EXIT_UNAVAILABLE, f"actionlog: unexpected error ({type(exc).__name__}): {exc}")
    sys.exit(EXIT_OK)


def _fail(code: int, line: str) -> None:
    sys.stderr.write(" ".join(line.split()) + "\n")
    sys.exit(code)
