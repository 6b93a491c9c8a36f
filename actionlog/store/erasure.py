"""Erasing a learner from the store, and the suppression list that keeps them out afterwards.

``{db}.suppressions`` holds keyed hashes (`actionlog.core.privacy`) of every erased learner id and
email; whatever lands or is re-driven is tested against it. ``{db}.erasures`` records each erasure:
when, by whom, the keyed hash of the key asked for, and how much went (never an id or an email).

Order of an erasure (docs/privacy.md): the hashes go into the suppression list first, so that the
sink stops landing the learner's rows; then the dimension entries only the learner's rows hold;
then the learner's rows, table by table (`actionlog.store.schema.learner_tables`), each statement
synchronous (``mutations_sync = 2``): when it returns, the rows are gone from disk, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from actionlog.core.errors import ConfigError
from actionlog.core.privacy import Suppressed, email_hash, id_hash, key_check, learner_hashes, looks_like_email
from actionlog.core.settings.privacy import ERASURE_KEY
from actionlog.store.schema import DIMENSIONS, LearnerTable, dimension_orphans, learner_tables
from actionlog.store.sqltext import qualified

__all__ = [
    "ERASURES",
    "SUPPRESSIONS",
    "Erasure",
    "Learner",
    "delete_learner",
    "ensure_privacy_schema",
    "erase",
    "load_suppressions",
    "suppression_version",
]

ERASURES = "erasures"
SUPPRESSIONS = "suppressions"


class _Store(Protocol):
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> object: ...

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]: ...


def ensure_privacy_schema(store: _Store, database: str) -> None:
    """Create the suppression list and the erasures' record if missing (idempotent)."""
    store.command(
        f"CREATE TABLE IF NOT EXISTS {qualified(database, SUPPRESSIONS)}\n"
        "(hash String, at DateTime64(3, 'UTC') DEFAULT now64(3))\n"
        "ENGINE = MergeTree ORDER BY hash"
    )
    store.command(
        f"CREATE TABLE IF NOT EXISTS {qualified(database, ERASURES)}\n"
        "(\n"
        "    at DateTime64(3, 'UTC') DEFAULT now64(3),\n"
        "    by String,\n"
        "    key_kind LowCardinality(String),\n"
        "    key_hash String,\n"
        "    learner_ids UInt32,\n"
        "    rows UInt64,\n"
        "    detail String\n"
        ")\n"
        "ENGINE = MergeTree ORDER BY at"
    )


def suppression_version(store: _Store, database: str) -> int:
    """A number that changes whenever the suppression list does (its row count: it only grows)."""
    return int(store.query_rows(f"SELECT count() FROM {qualified(database, SUPPRESSIONS)}")[0][0])


def load_suppressions(store: _Store, database: str, key: bytes | None) -> tuple[int, Suppressed]:
    """(version, the list) as the store holds it now.

    Raises:
        ConfigError: the list is not empty and there is no key to test learners against it.
    """
    if SUPPRESSIONS not in _existing(store, database):  # no store yet, or nobody ever erased
        return 0, Suppressed(key or b"", frozenset())
    rows = store.query_rows(f"SELECT DISTINCT hash FROM {qualified(database, SUPPRESSIONS)}")
    version = suppression_version(store, database)
    if rows and key is None:
        raise ConfigError(f"{ERASURE_KEY} is not set but {len(rows)} erased learner keys must be kept out")
    hashes = frozenset(str(r[0]) for r in rows)
    if hashes and key is not None and key_check(key) not in hashes:
        raise ConfigError(
            "the erasure key is not the one the suppression list was made with: set "
            f"{ERASURE_KEY} to that key on every process (docs/privacy.md)"
        )
    return version, Suppressed(key or b"", hashes)


@dataclass(frozen=True)
class Learner:
    """Every id and email an erasure covers (emails lower-cased, as stored)."""

    ids: tuple[str, ...]
    emails: tuple[str, ...]

    def parameters(self) -> dict[str, Any]:
        needles = [orjson.dumps(v).decode() for v in (*self.ids, *self.emails)]
        return {"ids": list(self.ids), "emails": list(self.emails), "needles": needles}

    def __bool__(self) -> bool:
        return bool(self.ids or self.emails)


@dataclass(frozen=True)
class Erasure:
    """What an erasure removed (or would remove, in a dry run).

    Attributes:
        key_kind: ``id`` or ``email``.
        key_hash: the keyed hash of the key asked for.
        learner_ids: how many learner ids it covers (more than one: an email shared by several).
        counts: rows per table (deleted or redacted), dimension entries under the dimension's name.
        dry_run: nothing was changed.
    """

    key_kind: str
    key_hash: str
    learner_ids: int
    counts: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line for the CLI and the HTTP answer (no id, no email)."""
        if not self.rows:
            return "nothing to erase" + ("" if self.dry_run else " (the key is kept out of what lands from now on)")
        done = "would erase" if self.dry_run else "erased"
        parts = ", ".join(f"{n} from {t}" for t, n in self.counts.items() if n) or "no rows"
        who = f"{self.learner_ids} learner id{'s' if self.learner_ids != 1 else ''}"
        note = "; the key is shared by several learner ids: all of them" if self.learner_ids > 1 else ""
        return f"{done} {who} (key {self.key_hash[:12]}): {parts}{note}"


def resolve(store: _Store, database: str, table: str, key: str) -> Learner:
    """The ids and emails the learner key covers, as far as the log knows them.

    An id covers itself and every email it used; an email covers itself, every id that used it
    (an email of two ids is both) and their emails.
    """
    log = qualified(database, table)
    if looks_like_email(key):
        email = key.strip().lower()
        ids = [
            str(r[0])
            for r in store.query_rows(f"SELECT DISTINCT learner_id FROM {log} WHERE email = {{e:String}}", {"e": email})
        ]
    else:
        ids, email = [key], ""
    emails = [
        str(r[0])
        for r in store.query_rows(
            f"SELECT DISTINCT email FROM {log} WHERE learner_id IN {{ids:Array(String)}} AND email != ''", {"ids": ids}
        )
    ]
    return Learner(tuple(sorted(ids)), tuple(sorted({*emails, *([email] if email else [])})))


def _existing(store: _Store, database: str) -> set[str]:
    rows = store.query_rows("SELECT name FROM system.tables WHERE database = {db:String}", {"db": database})
    return {str(r[0]) for r in rows}


def _count(store: _Store, database: str, t: LearnerTable, params: dict[str, Any]) -> int:
    return int(store.query_rows(f"SELECT count() FROM {qualified(database, t.table)} WHERE {t.where}", params)[0][0])


def _remove(store: _Store, database: str, t: LearnerTable, params: dict[str, Any]) -> None:
    action = "DELETE" if t.redact is None else f"UPDATE {t.redact}"
    store.command(
        f"ALTER TABLE {qualified(database, t.table)} {action} WHERE {t.where} SETTINGS mutations_sync = 2", params
    )


def delete_learner(
    store: _Store, database: str, table: str, learner: Learner, *, dry_run: bool = False
) -> dict[str, int]:
    """Remove the learner's rows from every learner table (and orphaned dimension entries first);
    returns what went, per table. Tables that do not exist yet are skipped."""
    params = learner.parameters()
    existing = _existing(store, database)
    counts: dict[str, int] = {}
    for name in DIMENSIONS:
        if f"{table}_{name}" not in existing:
            continue
        count_sql, delete_sql = dimension_orphans(database, table, name)
        counts[f"{table}_{name}"] = int(store.query_rows(count_sql, params)[0][0])
        if counts[f"{table}_{name}"] and not dry_run:
            store.command(delete_sql, params)
    ordered = sorted(learner_tables(table), key=lambda t: t.table != table)  # dimensions need the log
    for t in ordered:
        if t.table not in existing:
            continue
        counts[t.table] = _count(store, database, t, params)
        if counts[t.table] and not dry_run:
            _remove(store, database, t, params)
    # The log last but one: dimensions were computed from it above.
    return {k: counts[k] for k in sorted(counts, key=lambda k: (k != table, k))}


def erase(store: _Store, database: str, table: str, key: bytes, learner_key: str, by: str, *, dry_run: bool) -> Erasure:
    """Erase a learner (an id or an email) for good, or say what would go (``dry_run``).

    A key the store knows nothing of is "nothing to erase"; outside a dry run its hashes still go
    into the suppression list (its events may be in flight or in the dead-letter topic).
    """
    ensure_privacy_schema(store, database)
    load_suppressions(store, database, key)  # refuses a key the list was not made with
    kind = "email" if looks_like_email(learner_key) else "id"
    key_hash = email_hash(key, learner_key) if kind == "email" else id_hash(key, learner_key)
    learner = resolve(store, database, table, learner_key)
    counts = delete_learner(store, database, table, learner, dry_run=True)
    found = any(counts.values())
    ids = len(learner.ids) if found else 0
    if dry_run:
        return Erasure(kind, key_hash, ids, counts, dry_run=True)
    hashes = [key_check(key), *learner_hashes(key, learner.ids, learner.emails)]
    store.command(
        f"INSERT INTO {qualified(database, SUPPRESSIONS)} (hash) SELECT arrayJoin({{h:Array(String)}})", {"h": hashes}
    )
    if found:
        counts = delete_learner(store, database, table, learner)
    result = Erasure(kind, key_hash, ids, counts)
    store.command(
        f"INSERT INTO {qualified(database, ERASURES)} (by, key_kind, key_hash, learner_ids, rows, detail)\n"
        "SELECT {by:String}, {kind:String}, {hash:String}, {ids:UInt32}, {rows:UInt64}, {detail:String}",
        {
            "by": by,
            "kind": kind,
            "hash": key_hash,
            "ids": ids,
            "rows": result.rows,
            "detail": orjson.dumps(counts).decode(),
        },
    )
    return result
