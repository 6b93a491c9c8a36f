"""The audit of every data access over HTTP, in ``{db}.access_log``: who (the token's name, never
the token), when, which route, which filters, how many rows and bytes, and the status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from actionlog.access.tokens import looks_like_token
from actionlog.store import Store
from actionlog.store.sqltext import qualified

__all__ = ["TABLE", "Access", "audit_ddl", "filters_json", "record_access"]

TABLE = "access_log"
REDACTED = "[redacted]"


def audit_ddl(database: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(database, TABLE)}\n"
        "(\n"
        "    at DateTime64(3, 'UTC') DEFAULT now64(3),\n"
        "    token_name String,\n"
        "    role LowCardinality(String),\n"
        "    method LowCardinality(String),\n"
        "    route String,\n"
        "    filters String,\n"
        "    status UInt16,\n"
        "    rows UInt64,\n"
        "    bytes UInt64\n"
        ")\n"
        "ENGINE = MergeTree\n"
        "PARTITION BY toYYYYMM(at)\n"
        "ORDER BY (at, token_name)\n"
    )


@dataclass(frozen=True)
class Access:
    """One recorded access."""

    token_name: str
    role: str
    method: str
    route: str
    filters: str
    status: int
    rows: int
    bytes: int


def filters_json(params: Mapping[str, Sequence[str]], known: frozenset[str]) -> str:
    """The request's parameters as JSON, for the record: only parameter names the route knows
    (anything else is counted, not kept), and any value that looks like a token redacted."""
    kept: dict[str, list[str]] = {}
    unknown = 0
    for key, values in params.items():
        if key not in known:
            unknown += len(values)
            continue
        kept[key] = [REDACTED if looks_like_token(v) else v[:4096] for v in values]
    if unknown:
        kept["(unknown parameters)"] = [str(unknown)]
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS).decode()


def record_access(store: Store, access: Access) -> None:
    store.command(
        f"INSERT INTO {qualified(store.settings.database, TABLE)}"
        " (token_name, role, method, route, filters, status, rows, bytes)\n"
        "SELECT {token_name:String}, {role:String}, {method:String}, {route:String}, {filters:String},"
        " {status:UInt16}, {rows:UInt64}, {bytes:UInt64}",
        {
            "token_name": access.token_name,
            "role": access.role,
            "method": access.method,
            "route": access.route,
            "filters": access.filters,
            "status": access.status,
            "rows": access.rows,
            "bytes": access.bytes,
        },
    )
