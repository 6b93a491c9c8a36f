"""Tokens: random secrets given to callers, stored only as hashes, each with a role and a scope.

A token is ``alog_`` followed by 43 base64url characters (256 random bits). Only its SHA-256
hash is stored, in ``{db}.tokens``; the token itself is printed once, when created, and never
again. A token is ``admin`` (every row) or ``panorama`` (the rows of its panoramas only).

``{db}.tokens`` is a ``ReplacingMergeTree`` keyed by name whose version is when a row was written:
creating a name writes its first row, revoking it writes a later one marked revoked. Every process
reads the latest row of each name (`ACTIVE_SQL`), so a revocation reaches all of them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from actionlog.core.errors import BadParameter, Conflict
from actionlog.core.scope import Scope
from actionlog.store import Store
from actionlog.store.sqltext import qualified

__all__ = [
    "ADMIN",
    "PANORAMA",
    "ROLES",
    "Principal",
    "TokenInfo",
    "TokenRegistry",
    "hash_secret",
    "looks_like_token",
    "new_token",
    "tokens_ddl",
    "validate_name",
]

ADMIN = "admin"
PANORAMA = "panorama"
ROLES = (ADMIN, PANORAMA)
TOKEN_PREFIX = "alog_"
TABLE = "tokens"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_TOKEN = re.compile(r"alog_[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        name: the token's name (what the audit records).
        role: ``admin`` or ``panorama``.
        scope: the rows it may see.
    """

    name: str
    role: str
    scope: Scope

    @property
    def admin(self) -> bool:
        return self.role == ADMIN


@dataclass(frozen=True)
class TokenInfo:
    """What `tokens list` shows (never the token)."""

    name: str
    role: str
    panoramas: tuple[str, ...]
    created_ms: int
    last_used_ms: int | None
    revoked: bool


def new_token() -> str:
    """A fresh token: ``alog_`` and 256 random bits, base64url."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The stored form of a token or session id: SHA-256, hex. The secrets carry 256 random bits,
    so a plain hash is as strong as a slow one would be."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def looks_like_token(text: str) -> bool:
    return _TOKEN.fullmatch(text) is not None


def same_hash(a: str, b: str) -> bool:
    """Compare two hex hashes in constant time."""
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))


def validate_name(name: str) -> str:
    """Raises BadParameter unless ``name`` is 1-64 of ``A-Z a-z 0-9 . _ @ -``, not starting with a sign."""
    if not _NAME.fullmatch(name):
        shown = repr(name if len(name) <= 40 else name[:40] + "…")
        raise BadParameter("name", f"{shown} is not a token name (1-64 of A-Z a-z 0-9 . _ @ -)")
    return name


def tokens_ddl(database: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(database, TABLE)}\n"
        "(\n"
        "    name String,\n"
        "    role LowCardinality(String),\n"
        "    panoramas Array(String),\n"
        "    token_hash String,\n"
        "    created_at DateTime64(3, 'UTC'),\n"
        "    revoked UInt8,\n"
        "    written_at DateTime64(3, 'UTC') DEFAULT now64(3)\n"
        ")\n"
        "ENGINE = ReplacingMergeTree(written_at)\n"
        "ORDER BY name\n"
    )


def _latest(database: str) -> str:
    """Each name's latest row (FINAL picks the row written last)."""
    return f"SELECT name, role, panoramas, token_hash, created_at, revoked FROM {qualified(database, TABLE)} FINAL"


def active_sql(database: str) -> str:
    """Every token that is not revoked: name, role, panoramas, hash."""
    return f"SELECT name, role, panoramas, token_hash FROM ({_latest(database)}) WHERE revoked = 0"


class TokenRegistry:
    """Create, list and revoke tokens in a store.

    Args:
        store: where ``{db}.tokens`` lives (any `Store`).
        audit_table: the qualified access log table, to tell when a token was last used.
    """

    def __init__(self, store: Store, audit_table: str) -> None:
        self.store = store
        self.db = store.settings.database
        self.audit_table = audit_table

    def _row(self, name: str) -> tuple[Any, ...] | None:
        rows = self.store.query_rows(f"{_latest(self.db)} WHERE name = {{name:String}}", {"name": name})
        return rows[0] if rows else None

    def create(self, name: str, role: str, panoramas: Iterable[str]) -> str:
        """Create the token ``name`` and return it (the only time it is ever seen).

        Raises:
            BadParameter: a bad name, role or panorama list.
            Conflict: a token of that name exists and is not revoked.
        """
        validate_name(name)
        ids = sorted(set(panoramas))
        if role not in ROLES:
            raise BadParameter("role", f"{role!r} is not one of {', '.join(ROLES)}")
        if role == ADMIN and ids:
            raise BadParameter("panorama", "an admin token sees every panorama: give --admin or --panorama, not both")
        if role == PANORAMA and (not ids or "" in ids):
            raise BadParameter("panorama", "a panorama token needs at least one non-empty panorama id")
        existing = self._row(name)
        if existing is not None and not int(existing[5]):
            raise Conflict(f"a token named {name!r} exists; revoke it first (actionlog tokens revoke {name})")
        token = new_token()
        self.store.command(
            f"INSERT INTO {qualified(self.db, TABLE)} (name, role, panoramas, token_hash, created_at, revoked)\n"
            "SELECT {name:String}, {role:String}, {panoramas:Array(String)}, {hash:String}, now64(3), 0",
            {"name": name, "role": role, "panoramas": ids, "hash": hash_secret(token)},
        )
        return token

    def revoke(self, name: str) -> bool:
        """Revoke ``name``; False if it was revoked already.

        Raises:
            BadParameter: no token has that name.
        """
        existing = self._row(name)
        if existing is None:
            raise BadParameter("name", f"no token is named {name!r}")
        if int(existing[5]):
            return False
        self.store.command(
            f"INSERT INTO {qualified(self.db, TABLE)} (name, role, panoramas, token_hash, created_at, revoked)\n"
            f"SELECT name, role, panoramas, token_hash, created_at, 1 FROM ({_latest(self.db)})"
            " WHERE name = {name:String}",
            {"name": name},
        )
        return True

    def describe(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        sql = (
            "SELECT t.name, t.role, t.panoramas, toUnixTimestamp64Milli(t.created_at), t.revoked,"
            " u.last_used, u.name != ''\n"
            f"FROM ({_latest(self.db)}) AS t\n"
            "LEFT JOIN (SELECT token_name AS name, toUnixTimestamp64Milli(max(at)) AS last_used\n"
            f"    FROM {self.audit_table} GROUP BY token_name) AS u ON u.name = t.name\n"
            + ("" if include_revoked else "WHERE t.revoked = 0\n")
            + "ORDER BY t.name"
        )
        return [
            TokenInfo(str(n), str(r), tuple(p), int(c), int(u) if used else None, bool(rv))
            for n, r, p, c, rv, u, used in self.store.query_rows(sql)
        ]

    def active(self) -> list[tuple[str, Principal]]:
        """(hash, principal) of every token that is not revoked."""
        out = []
        for name, role, panoramas, token_hash in self.store.query_rows(active_sql(self.db)):
            scope = Scope.everything() if role == ADMIN else Scope.of(list(panoramas))
            out.append((str(token_hash), Principal(str(name), str(role), scope)))
        return out
