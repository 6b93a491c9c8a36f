"""``actionlog erase`` and ``actionlog retention``: a learner erased for good, and data kept only
as long as configured (docs/privacy.md)."""

from __future__ import annotations

import getpass

import click

from actionlog.cli.root import cli, settings_of
from actionlog.core.errors import BadParameter
from actionlog.store import open_store
from actionlog.store.erasure import erase as erase_learner
from actionlog.store.erasure_key import with_erasure_key
from actionlog.store.schema import apply_retention, ensure_log_schema
from actionlog.store.sqltext import qualified

__all__ = ["erase", "retention"]


@cli.command()
@click.option("--learner", required=True, metavar="ID|EMAIL", help="The learner's id, or an email (has an @).")
@click.option("--dry-run", is_flag=True, help="Say what would go; change nothing.")
@click.pass_context
def erase(ctx: click.Context, learner: str, dry_run: bool) -> None:
    """Erase a learner for good: their rows everywhere, and keep them out of what lands later."""
    if not learner.strip():
        raise BadParameter("learner", "--learner must not be empty")
    settings = with_erasure_key(settings_of(ctx), create=True)
    key = settings.privacy.key_bytes()
    ch = settings.clickhouse
    store = open_store(ch, role="erase")
    try:
        ensure_log_schema(store, ch.database, ch.table)
        result = erase_learner(store, ch.database, ch.table, key, learner, f"cli:{getpass.getuser()}", dry_run=dry_run)
    finally:
        store.close()
    click.echo(("dry run: " if dry_run else "") + result.summary())


@cli.command()
@click.option("--dry-run", is_flag=True, help="Count the rows that would go, per month; change nothing.")
@click.pass_context
def retention(ctx: click.Context, dry_run: bool) -> None:
    """Apply ACTIONLOG_RETENTION_DAYS to the table now (its TTL), or count what it would remove."""
    settings = settings_of(ctx)
    days = settings.privacy.retention_days
    if days is None:
        click.echo("ACTIONLOG_RETENTION_DAYS is not set: every row is kept")
        return
    ch = settings.clickhouse
    store = open_store(ch, role="retention")
    try:
        ensure_log_schema(store, ch.database, ch.table)
        months = store.query_rows(
            f"SELECT toYYYYMM(occurred_at) AS month, count() FROM {qualified(ch.database, ch.table)} FINAL\n"
            "WHERE occurred_at + toIntervalDay({days:UInt32}) < now64(3) GROUP BY month ORDER BY month",
            {"days": days},
        )
        if not dry_run:
            apply_retention(store, ch.database, ch.table, days)
            store.command(f"ALTER TABLE {qualified(ch.database, ch.table)} MATERIALIZE TTL SETTINGS mutations_sync = 2")
    finally:
        store.close()
    for month, count in months:
        click.echo(f"{str(month)[:4]}-{str(month)[4:]}\t{count}")
    total = sum(int(c) for _, c in months)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {total} rows older than {days} days")
