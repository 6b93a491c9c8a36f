"""``actionlog report`` and ``actionlog export``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from actionlog.cli.params import check_output, filter_options, report_params
from actionlog.cli.root import cli, settings_of
from actionlog.core.files import write_atomically, write_stream
from actionlog.core.scope import Scope
from actionlog.query.export.job import run_export
from actionlog.query.filters import parse_report_params
from actionlog.query.report import report_chunks
from actionlog.store import open_store

__all__ = ["export", "report"]


@cli.command()
@filter_options
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here (atomically).")
@click.option("--limit", metavar="N", help="At most N rows.")
@click.pass_context
def report(ctx: click.Context, output: Path | None, limit: str | None, **kw: Any) -> None:
    """Print the Content Actions Log for the given filters (CSV, JSON or NDJSON)."""
    settings = settings_of(ctx)
    filters = parse_report_params(report_params(kw, limit), now=datetime.now(UTC))  # exit 2 before any I/O
    if output is not None:
        check_output(output)
    store = open_store(settings.clickhouse, role="report")
    try:
        _emit(report_chunks(store, filters, Scope.everything()), output)  # the CLI: the machine is the trust boundary
    finally:
        store.close()


@cli.command()
@click.option("--job", required=True, help="Job name: its own watermark, lock and file names.")
@click.option("--output-dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Where files land.")
@filter_options
@click.option("--dry-run", is_flag=True, help="Say how many rows the next run would export; write nothing.")
@click.pass_context
def export(ctx: click.Context, job: str, output_dir: Path, dry_run: bool, **kw: Any) -> None:
    """Write one new file with the rows that landed since this job's last successful run."""
    result = run_export(settings_of(ctx), job=job, output_dir=output_dir, params=report_params(kw), dry_run=dry_run)
    click.echo(result.summary(), err=True)


def _emit(chunks: Iterator[bytes], output: Path | None) -> None:
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
