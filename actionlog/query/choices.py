"""Choice lists of the report page's filters, as the caller's scope sees them (docs/report.md#choices).

Every list reads a small dimension table that follows the log (`actionlog.store.schema`), never
the log itself, and carries the caller's scope like every report statement. Sources come from the
catalog: what may be chosen for the chosen Types.
"""

from __future__ import annotations

from collections.abc import Sequence

from actionlog.core.catalog import SOURCES_BY_TYPE, TYPES
from actionlog.core.scope import Scope
from actionlog.query.sql import Query, scope_condition
from actionlog.store.schema import CONTENTS, PANORAMAS
from actionlog.store.sqltext import qualified

__all__ = [
    "MAX_CHOICES",
    "content_types_query",
    "contents_query",
    "course_groups_query",
    "panoramas_query",
    "sources_for",
]

MAX_CHOICES = 100
"""The most entries a type-ahead list returns."""


def _dim(database: str, table: str, name: str) -> str:
    return qualified(database, f"{table}_{name}")


def _where(scope: Scope, params: dict[str, object], extra: Sequence[str] = ()) -> str:
    clauses = [*scope_condition(scope, params), *extra]
    return "WHERE " + " AND ".join(clauses) if clauses else ""


def panoramas_query(database: str, table: str, scope: Scope) -> Query:
    """Rows ``(id, name)``: each panorama of the scope with its latest name, by name."""
    params: dict[str, object] = {}
    sql = (
        "SELECT panorama_id, argMax(panorama_name, last_seen) AS name\n"
        f"FROM {_dim(database, table, PANORAMAS)}\n"
        f"{_where(scope, params)}\n"
        "GROUP BY panorama_id\nORDER BY lowerUTF8(name), panorama_id"
    )
    return Query(sql, params)


def contents_query(database: str, table: str, scope: Scope, search: str, limit: int) -> Query:
    """Rows ``(id, title, type)``: contents whose latest title holds ``search`` (any case), by title.

    Raises:
        ValueError: ``limit`` outside 1..`MAX_CHOICES`.
    """
    if not 1 <= limit <= MAX_CHOICES:
        raise ValueError(f"limit {limit} is not within 1..{MAX_CHOICES}")
    params: dict[str, object] = {"search": search, "choice_limit": limit}
    sql = (
        "SELECT content_id, argMax(content_title, last_seen) AS title, argMax(content_type, last_seen) AS type\n"
        f"FROM {_dim(database, table, CONTENTS)}\n"
        f"{_where(scope, params)}\n"
        "GROUP BY content_id\n"
        "HAVING positionCaseInsensitiveUTF8(title, {search:String}) > 0\n"
        "ORDER BY lowerUTF8(title), content_id\n"
        "LIMIT {choice_limit:UInt64}"
    )
    return Query(sql, params)


def course_groups_query(database: str, table: str, scope: Scope) -> Query:
    """Rows ``(id,)``: every course group of the scope's contents, sorted."""
    params: dict[str, object] = {}
    where = _where(scope, params, ["course_group_id != ''"])
    sql = f"SELECT DISTINCT course_group_id FROM {_dim(database, table, CONTENTS)}\n{where}\nORDER BY course_group_id"
    return Query(sql, params)


def content_types_query(database: str, table: str, scope: Scope) -> Query:
    """Rows ``(type,)``: every content type of the scope's contents, sorted."""
    params: dict[str, object] = {}
    where = _where(scope, params, ["content_type != ''"])
    sql = f"SELECT DISTINCT content_type FROM {_dim(database, table, CONTENTS)}\n{where}\nORDER BY content_type"
    return Query(sql, params)


def sources_for(types: Sequence[str]) -> list[str]:
    """The Sources that may be chosen with these Types (every Source when none is chosen), in
    catalog order, each once."""
    chosen = [t for t in TYPES if t in types] or list(TYPES)
    return list(dict.fromkeys(s for t in chosen for s in SOURCES_BY_TYPE[t]))
