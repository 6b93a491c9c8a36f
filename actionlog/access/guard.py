"""Checking callers: the credentials every HTTP process keeps fresh, and the scope rule for
panorama filters.

`Authenticator` holds the live tokens and sessions, reloaded from the store every
`REFRESH_SECONDS`, so a token revoked anywhere is refused everywhere within `MAX_AGE_SECONDS`. If
the store cannot be read for longer than that, every check fails closed (`StoreUnavailable`):
a revocation is never missed because the store was briefly away.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from actionlog.access.audit import TABLE as AUDIT_TABLE
from actionlog.access.audit import audit_ddl
from actionlog.access.sessions import SessionRegistry, sessions_ddl
from actionlog.access.tokens import Principal, TokenRegistry, hash_secret, same_hash, tokens_ddl
from actionlog.core.errors import Forbidden, StoreUnavailable, Unauthorized
from actionlog.core.scope import Scope
from actionlog.store import Store
from actionlog.store.schema import PANORAMAS
from actionlog.store.sqltext import qualified, quote_identifier

__all__ = [
    "MAX_AGE_SECONDS",
    "REFRESH_SECONDS",
    "Authenticator",
    "check_panoramas",
    "ensure_access_schema",
    "registry",
]

REFRESH_SECONDS = 2.0
MAX_AGE_SECONDS = 5.0


def ensure_access_schema(store: Store) -> None:
    """Create the tokens, sessions and access log tables if missing (idempotent)."""
    db = store.settings.database
    store.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(db, 'database')}")
    for ddl in (tokens_ddl(db), sessions_ddl(db), audit_ddl(db)):
        store.command(ddl)


def registry(store: Store) -> TokenRegistry:
    return TokenRegistry(store, qualified(store.settings.database, AUDIT_TABLE))


@dataclass
class _Snapshot:
    tokens: list[tuple[str, Principal]] = field(default_factory=list)
    sessions: dict[str, tuple[str, int]] = field(default_factory=dict)
    loaded: float = float("-inf")


class Authenticator:
    """The credentials of one process, and the check of a request's token or session."""

    def __init__(self, max_age: float = MAX_AGE_SECONDS) -> None:
        self.max_age = max_age
        self._snap = _Snapshot()
        self._lock = threading.Lock()

    def load(self, store: Store) -> None:
        """Reload tokens and live sessions (blocking). A load that started before the current
        snapshot's never replaces it.

        Raises:
            StoreError: the store cannot be read (the previous snapshot ages meanwhile).
        """
        started = time.monotonic()
        tokens = registry(store).active()
        sessions = SessionRegistry(store).live()
        with self._lock:
            if started < self._snap.loaded:
                return
            local = {h: s for h, s in self._snap.sessions.items() if h not in sessions and s[1] > _now_ms()}
            self._snap = _Snapshot(tokens, {**sessions, **local}, started)

    @property
    def loaded_at(self) -> float:
        """When (monotonic seconds) the current credentials started loading."""
        return self._snap.loaded

    def _fresh(self) -> _Snapshot:
        snap = self._snap
        if time.monotonic() - snap.loaded > self.max_age:
            raise StoreUnavailable("the tokens cannot be checked right now (the store does not answer)")
        return snap

    def by_token(self, token: str) -> Principal:
        """The caller a bearer token stands for.

        Raises:
            Unauthorized: unknown or revoked.
            StoreUnavailable: the credentials are too old to be trusted.
        """
        snap = self._fresh()
        digest = hash_secret(token)
        found: Principal | None = None
        for stored, principal in snap.tokens:  # every entry compared, in constant time each
            if same_hash(stored, digest):
                found = principal
        if found is None:
            raise Unauthorized("unknown or revoked token")
        return found

    def by_session(self, session: str) -> Principal:
        """The caller a session cookie stands for (its token must still be live).

        Raises:
            Unauthorized: unknown, closed or expired session, or its token was revoked.
            StoreUnavailable: the credentials are too old to be trusted.
        """
        snap = self._fresh()
        entry = snap.sessions.get(hash_secret(session))
        if entry is None or entry[1] <= _now_ms():
            raise Unauthorized("the session has ended: sign in again")
        for _, principal in snap.tokens:
            if principal.name == entry[0]:
                return principal
        raise Unauthorized("the session's token was revoked: sign in again")

    def remember_session(self, digest: str, token_name: str, expires_ms: int) -> None:
        """A session opened by this process, valid here at once (others see it at their next load)."""
        with self._lock:
            self._snap.sessions[digest] = (token_name, expires_ms)

    def forget_session(self, digest: str) -> None:
        with self._lock:
            self._snap.sessions.pop(digest, None)


def _now_ms() -> int:
    return int(time.time() * 1000)


def check_panoramas(store: Store, values: Sequence[str], scope: Scope) -> None:
    """Refuse a panorama filter that names a panorama outside ``scope``.

    A value is within the scope when it is one of the scope's panorama ids, or (case-insensitive,
    as the report matches) a name one of them has had. Anything else, a foreign panorama or one
    that does not exist, is refused alike: the answer says nothing about other clients.

    Raises:
        Forbidden: a value outside the scope.
    """
    if scope.panoramas is None or not values:
        return
    dim = qualified(store.settings.database, f"{store.settings.table}_{PANORAMAS}")
    rows = store.query_rows(
        f"WITH (SELECT groupUniqArray(lowerUTF8(panorama_name)) FROM {dim}\n"
        "      WHERE has({scope:Array(String)}, panorama_id)) AS names\n"
        "SELECT arrayFilter(v -> NOT (has({scope:Array(String)}, v) OR has(names, lowerUTF8(v))),\n"
        "                   {values:Array(String)})",
        {"scope": sorted(scope.panoramas), "values": list(values)},
    )
    outside = list(rows[0][0]) if rows else list(values)
    if outside:
        raise Forbidden("a --panorama filter names a panorama outside this token's scope")
