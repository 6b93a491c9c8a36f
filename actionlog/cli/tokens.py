"""``actionlog tokens create|list|revoke``: the callers of the HTTP routes and the page.

On the machine that holds the store these need no token: being able to open the store (or to
read the worker's key in its data directory) is the trust boundary.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from actionlog.access.guard import ensure_access_schema, registry
from actionlog.access.tokens import ADMIN, PANORAMA
from actionlog.cli.root import cli, settings_of
from actionlog.core.errors import BadParameter
from actionlog.store import open_store

__all__ = ["tokens"]


@cli.group()
def tokens() -> None:
    """Tokens of the HTTP routes and the report page (docs/access.md)."""


@tokens.command("create")
@click.option("--name", required=True, help="A name for the token: it is what the access log records.")
@click.option("--admin", "admin", is_flag=True, help="Sees every row (main site and every panorama).")
@click.option("--panorama", "panoramas", multiple=True, metavar="ID", help="Sees this panorama's rows. Repeatable.")
@click.pass_context
def create(ctx: click.Context, name: str, admin: bool, panoramas: tuple[str, ...]) -> None:
    """Create a token and print it, once: only its hash is kept."""
    if admin == bool(panoramas):
        raise BadParameter("admin", "give either --admin or at least one --panorama ID")
    store = open_store(settings_of(ctx).clickhouse, role="tokens")
    try:
        ensure_access_schema(store)
        token = registry(store).create(name, ADMIN if admin else PANORAMA, panoramas)
    finally:
        store.close()
    click.echo(token)


@tokens.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Revoked tokens too.")
@click.pass_context
def list_(ctx: click.Context, include_revoked: bool) -> None:
    """Name, role, panoramas, created, last used (never a token)."""
    store = open_store(settings_of(ctx).clickhouse, role="tokens")
    try:
        ensure_access_schema(store)
        infos = registry(store).describe(include_revoked=include_revoked)
    finally:
        store.close()
    click.echo(
        "\t".join(["name", "role", "panoramas", "created", "last used", *(["revoked"] if include_revoked else [])])
    )
    for t in infos:
        row = [t.name, t.role, ",".join(t.panoramas) or "-", _iso(t.created_ms), _iso(t.last_used_ms)]
        click.echo("\t".join([*row, *(["yes" if t.revoked else "no"] if include_revoked else [])]))


@tokens.command("revoke")
@click.argument("name")
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Revoke a token: every process refuses it within 5 seconds."""
    store = open_store(settings_of(ctx).clickhouse, role="tokens")
    try:
        ensure_access_schema(store)
        changed = registry(store).revoke(name)
    finally:
        store.close()
    click.echo(f"revoked {name}" if changed else f"{name} was revoked already")


def _iso(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
