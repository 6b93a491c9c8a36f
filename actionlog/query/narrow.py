"""Narrowing a filtered report to the instants it needs to read (docs/performance.md#reports).

The log is ordered by time, so a filter on a learner, a content, a course group, a panorama or a
type and source, over a long range, would read every granule. The filter keys table
(`actionlog.store.schema.FILTER_KEYS`, ordered by key then time) answers instead *at which
instants* rows with those keys landed. The report then reads the log with FINAL only at those
instants (``occurred_at IN …``, a condition on the sorting key's first column, so the primary
key prunes to about one granule per instant), with every filter checked again after FINAL.

Why no row is ever wrong or missing:

* every copy of an event, the one FINAL keeps too, has its keys, and every copy of an event has
  the same ``occurred_at``: the instants of the matching rows are among the candidates, and FINAL
  sees all copies of each event it reads, so it keeps the row a full read would keep;
* the candidates are pre-filtered with the very expressions of the report (type, source, content
  type, course group, panorama, the caller's scope) over the copy's own values, so the kept copy
  of a matching event always passes; a losing copy's keys only add instants whose rows then fail
  the re-check;
* the newest ``n`` candidates are read first; the caller asks for the next ones (strictly older)
  while a page is not full and candidates remain.

Every statement carries the caller's scope (`actionlog.query.sql.scope_condition`), this one too.
Pure: statements only; `actionlog.query.seek` runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from actionlog.core.scope import Scope
from actionlog.query.filters import ReportFilters
from actionlog.query.sql import Query, QueryLimits, range_conditions, scope_condition
from actionlog.store.schema import FILTER_KEYS
from actionlog.store.sqltext import qualified, settings_clause

__all__ = ["MAX_KEYS_READ_IN_ORDER", "candidates_query", "candidates_within", "drives", "instants_within"]

#: Up to this many keys, each is read newest first on its own (``UNION ALL``), which stops after
#: ``n`` rows per key; beyond, one read of all their key rows, sorted.
MAX_KEYS_READ_IN_ORDER = 64
#: Reads in order stop after ``n`` rows, but each part is read a block at a time: blocks of one
#: granule of a store made with 8,192-row key granules, not the default 65,505 rows (a panorama's
#: candidates read 8 times fewer rows per part; docs/performance.md).
_IN_ORDER_SETTINGS: tuple[tuple[str, str], ...] = (("max_block_size", "8192"),)


@dataclass(frozen=True)
class _Family:
    """Keys a filter's values are found by: (prefix, whether the value is lower-cased) pairs.
    ``param`` names the filter; a candidates read driven by this family leaves out the
    condition of the same name (its keys exist only where it holds)."""

    param: str
    prefixes: tuple[tuple[str, bool], ...]


_LEARNERS = _Family("learners", (("l:", False), ("e:", True)))
_CONTENTS = _Family("contents", (("c:", False),))
_GROUPS = _Family("course_groups", (("g:", False),))
_PANORAMAS = _Family("panoramas", (("p:", False), ("n:", True)))


def _families(filters: ReportFilters, scope: Scope) -> list[tuple[_Family, list[str]]]:
    """The key families of these filters, the most selective first (a learner has fewer rows
    than a content, a content than a course group, …); the scope's panoramas last."""
    out: list[tuple[_Family, list[str]]] = []
    for family, values in (
        (_LEARNERS, filters.learners),
        (_CONTENTS, filters.contents),
        (_GROUPS, filters.course_groups),
        (_PANORAMAS, filters.panoramas),
    ):
        if values:
            out.append((family, list(values)))
    if filters.types and filters.sources:
        pairs = [f"{t}/{s}" for t in filters.types for s in filters.sources]
        out.append((_Family("type_sources", (("t:", False),)), pairs))
    if scope.panoramas is not None:
        out.append((_Family("scope_keys", (("p:", False),)), sorted(scope.panoramas)))
    return out


def drives(filters: ReportFilters, scope: Scope) -> bool:
    """Whether the report can be narrowed by its keys (else it reads the log by time)."""
    return bool(_families(filters, scope))


def _key_expressions(family: _Family, values: list[str], params: dict[str, object], tag: str) -> list[str]:
    exprs = []
    for i, value in enumerate(values):
        name = f"nk_{tag}{i}"
        params[name] = value
        for prefix, folded in family.prefixes:
            value_sql = f"lowerUTF8({{{name}:String}})" if folded else f"{{{name}:String}}"
            exprs.append(f"concat('{prefix}', {value_sql})")
    return exprs


def _attributes(filters: ReportFilters, params: dict[str, object], driver: _Family) -> list[str]:
    """The report's own conditions on the columns the keys carry (same expressions, so a copy
    that matches the report matches these). The driving family's own condition is left out: its
    keys hold only where it is true (``p:v`` where ``panorama_id = v``, ``n:`` + the folded name
    where the folded names are equal, ``g:v`` where ``course_group_id = v``), and evaluating the
    folded panorama name on every key row read cost a third of the statement. (The scope is
    not an attribute of the report: `_plan` puts it beside the range, in every read.)"""
    clauses: list[str] = []
    if filters.panoramas and driver.param != "panoramas":
        params["panoramas"] = list(filters.panoramas)
        clauses.append(
            "(has({panoramas:Array(String)}, panorama_id)"
            " OR has(arrayMap(x -> lowerUTF8(x), {panoramas:Array(String)}), lowerUTF8(panorama_name)))"
        )
    for param, values, column in (
        ("types", filters.types, "action_type"),
        ("sources", filters.sources, "source"),
        ("course_groups", filters.course_groups, "course_group_id"),
    ):
        if values and param != driver.param:
            params[param] = list(values)
            clauses.append(f"has({{{param}:Array(String)}}, {column})")
    if filters.content_types:
        params["content_types"] = list(filters.content_types)
        clauses.append("has(arrayMap(x -> lowerUTF8(x), {content_types:Array(String)}), lowerUTF8(content_type))")
    return clauses


def _range(filters: ReportFilters, params: dict[str, object], upto_ms: int | None) -> list[str]:
    clauses = range_conditions(filters, params)
    if upto_ms is not None:
        params["upto_ms"] = upto_ms
        clauses.append("occurred_at <= fromUnixTimestamp64Milli({upto_ms:Int64}, 'UTC')")
    return clauses


def _source(database: str, table: str) -> str:
    return qualified(database, f"{table}_{FILTER_KEYS}")


@dataclass(frozen=True)
class _Plan:
    """What a candidates read needs: the driving keys and the conditions their rows meet; the
    keys of a second, thin family (a content under a learner); and what every key row read
    meets (the range and the caller's scope)."""

    keys: list[str]
    conditions: list[str]
    thin_keys: list[str]
    within: list[str]


def _plan(filters: ReportFilters, scope: Scope, params: dict[str, object], upto_ms: int | None) -> _Plan | None:
    """The plan of a candidates read, or None (no family)."""
    families = _families(filters, scope)
    if not families:
        return None
    (driver, values), rest = families[0], families[1:]
    keys = _key_expressions(driver, values, params, "a")
    within = [*_range(filters, params, upto_ms), *scope_condition(scope, params)]
    conditions = _attributes(filters, params, driver)
    # A second family with few rows (a content under a learner) is intersected with the first
    # (`_instants`); the others are attributes above (course group, panorama) or re-checked
    # by the report.
    thin = [(f, v) for f, v in rest if f is _CONTENTS]
    second = _key_expressions(thin[0][0], thin[0][1], params, "b") if thin else []
    return _Plan(keys, conditions, second, within)


def _instants(plan: _Plan, source: str) -> str:
    """``SELECT occurred_at`` of every key row the plan reads that may be a candidate's. With a
    thin family: the instants at which both a driving key row meeting its conditions and a thin
    key row landed, in one read of both families' key rows grouped by instant (a set of the thin
    family's instants checked against every driving key row cost three times as much;
    docs/performance.md, Reports)."""
    keys = f"k IN ({', '.join(plan.keys)})"
    if not plan.thin_keys:
        return f"SELECT occurred_at FROM {source}\nWHERE {' AND '.join([keys, *plan.within, *plan.conditions])}"
    both = f"k IN ({', '.join(plan.keys + plan.thin_keys)})"
    driving = " AND ".join([keys, *plan.conditions])
    return (
        f"SELECT occurred_at FROM {source}\nWHERE {' AND '.join([both, *plan.within])}\nGROUP BY occurred_at\n"
        f"HAVING countIf({driving}) > 0 AND countIf(k IN ({', '.join(plan.thin_keys)})) > 0"
    )


def candidates_query(
    filters: ReportFilters,
    *,
    database: str,
    table: str,
    scope: Scope,
    upto_ms: int | None,
    n: int,
    limits: QueryLimits | None = None,
) -> Query | None:
    """The newest ``n`` distinct instants (epoch ms, newest first) at or before ``upto_ms`` (None:
    the range's end) at which rows that may match ``filters`` landed; None when no key family
    narrows these filters. ``limits`` as in `actionlog.query.sql.build_report_query`."""
    if n < 1:
        raise ValueError(f"n must be positive, not {n}")
    params: dict[str, object] = {"n": n}
    plan = _plan(filters, scope, params, upto_ms)
    if plan is None:
        return None
    source = _source(database, table)
    in_order = not plan.thin_keys and len(plan.keys) <= MAX_KEYS_READ_IN_ORDER
    if in_order:
        # Each key's newest n *distinct* instants (a re-sent event has its keys twice): the newest
        # n of their union are then the newest n of all, and fewer than n means every key is done.
        where = "".join(f" AND {c}" for c in plan.within + plan.conditions)
        parts = [
            f"(SELECT DISTINCT occurred_at FROM {source} WHERE k = {key}{where}"
            " ORDER BY occurred_at DESC LIMIT {n:UInt64})"
            for key in plan.keys
        ]
        inner = "\n    UNION ALL\n    ".join(parts)
        sql = f"SELECT DISTINCT toUnixTimestamp64Milli(occurred_at) AS t FROM (\n    {inner}\n)"
    else:
        sql = f"SELECT DISTINCT toUnixTimestamp64Milli(occurred_at) AS t FROM (\n{_instants(plan, source)}\n)"
    settings = (limits.settings() if limits is not None else ()) + (_IN_ORDER_SETTINGS if in_order else ())
    tail = f"\nSETTINGS {settings_clause(settings)}" if settings else ""
    return Query(f"{sql}\nORDER BY t DESC\nLIMIT {{n:UInt64}}{tail}", params)


def candidates_within(filters: ReportFilters, *, database: str, table: str, scope: Scope) -> Query | None:
    """A condition on the log's rows: ``occurred_at`` is an instant of *any* candidate (a
    subquery, for a whole report or a count); None when no key family narrows these filters."""
    params: dict[str, object] = {}
    plan = _plan(filters, scope, params, None)
    if plan is None:
        return None
    return Query(f"occurred_at IN ({_instants(plan, _source(database, table))})", params)


def instants_within(instants_ms: Sequence[int]) -> Query:
    """A condition on the log's rows: ``occurred_at`` is one of these instants (epoch ms)."""
    # The sorting key's own column under a monotonic function against a set: the primary key
    # prunes to about one granule per instant. (``occurred_at IN arrayMap(...)`` is a function of
    # the parameter the index cannot see through: it read every granule, 150x slower.)
    return Query(
        "toUnixTimestamp64Milli(occurred_at) IN {within_ms:Array(Int64)}",
        {"within_ms": list(instants_ms)},
    )
