"""Sessions of the report page: signing in with a token gives the browser a cookie holding a
random session id (256 bits), never the token. Only the id's hash is stored, in
``{db}.sessions``, with the token's name and an expiry; revoking the token ends its sessions."""

from __future__ import annotations

import secrets

from actionlog.access.tokens import hash_secret
from actionlog.store import Store
from actionlog.store.sqltext import qualified

__all__ = ["COOKIE", "SessionRegistry", "new_session_id", "sessions_ddl"]

COOKIE = "actionlog_session"
TABLE = "sessions"


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def sessions_ddl(database: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(database, TABLE)}\n"
        "(\n"
        "    session_hash String,\n"
        "    token_name String,\n"
        "    expires_at DateTime64(3, 'UTC'),\n"
        "    revoked UInt8,\n"
        "    written_at DateTime64(3, 'UTC') DEFAULT now64(3)\n"
        ")\n"
        "ENGINE = ReplacingMergeTree(written_at)\n"
        "ORDER BY session_hash\n"
        "TTL toDateTime(expires_at) + INTERVAL 1 DAY\n"
    )


class SessionRegistry:
    """Open, close and list live sessions in a store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.table = qualified(store.settings.database, TABLE)

    def open(self, token_name: str, lifetime_s: int) -> tuple[str, str, int]:
        """A new session of ``token_name``: (session id, its hash, expiry in epoch ms)."""
        session = new_session_id()
        digest = hash_secret(session)
        rows = self.store.query_rows(
            "SELECT toUnixTimestamp64Milli(now64(3) + toIntervalSecond({life:UInt32}))", {"life": lifetime_s}
        )
        expires_ms = int(rows[0][0])
        self.store.command(
            f"INSERT INTO {self.table} (session_hash, token_name, expires_at, revoked)\n"
            "SELECT {hash:String}, {name:String}, fromUnixTimestamp64Milli({expires:Int64}, 'UTC'), 0",
            {"hash": digest, "name": token_name, "expires": expires_ms},
        )
        return session, digest, expires_ms

    def close(self, digest: str) -> None:
        self.store.command(
            f"INSERT INTO {self.table} (session_hash, token_name, expires_at, revoked)\n"
            f"SELECT session_hash, token_name, expires_at, 1 FROM {self.table} FINAL"
            " WHERE session_hash = {hash:String}",
            {"hash": digest},
        )

    def live(self) -> dict[str, tuple[str, int]]:
        """session hash -> (token name, expiry in epoch ms), for sessions neither closed nor expired."""
        rows = self.store.query_rows(
            f"SELECT session_hash, token_name, toUnixTimestamp64Milli(expires_at) FROM {self.table} FINAL"
            " WHERE revoked = 0 AND expires_at > now64(3)"
        )
        return {str(h): (str(n), int(e)) for h, n, e in rows}
