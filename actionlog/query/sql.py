"""Build the report's one parameterized SELECT (docs/report.md).

Every user value travels as a ClickHouse query parameter (``{name:Type}``,
bound server-side by clickhouse-connect over HTTP and by chDB's ``params``);
the SQL text holds only our own constants and the configured database and
table names, which must be plain identifiers and are backtick-quoted.

Shape of the statement::

    SELECT <output expressions over r_*> AS email, ..., AS timestamp
    FROM (SELECT occurred_at AS r_occurred_at, ... FROM `db`.`table` FINAL WHERE ...)
    ORDER BY r_occurred_at DESC, r_event_id ASC
    [LIMIT {row_limit:UInt64}]
    SETTINGS ...

With a landing window (the export job, docs/export.md) the inner WHERE also holds
``ingested_at > {ingested_after_ms} AND ingested_at <= {ingested_until_ms}``. That
condition must be applied *after* FINAL picked each event's surviving (earliest
landed) copy, never to the raw copies, or a duplicate landing in a later window
would surface again; the statement pins the two settings that could change that
(`FINAL_FILTER_SETTINGS`), whatever a server profile says.

An end of the ``occurred_at`` range at `actionlog.query.filters.EARLIEST` / ``LATEST`` (an
unbounded export range) adds no condition.

The inner query renames the columns so that no output alias (``email``,
``content_title``…) can ever shadow a column in WHERE or ORDER BY (ClickHouse
resolves an alias before a column of the same name). ``FINAL`` collapses the
duplicates of an event (the dedup pattern). Output settings are a ``SETTINGS``
clause in the SQL, not per-call settings: with chDB, per-call settings make
``raw_stream`` buffer the whole result. The client appends ``FORMAT <fmt>``.

The same clause carries the report's limits (`QueryLimits`): the longest it may run
(``max_execution_time``), the most memory it may take (``max_memory_usage``), and
``readonly=1``. They travel inside the statement, so they hold wherever it runs: the
embedded engine, a server, or the worker that holds the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from actionlog.core.scope import Scope
from actionlog.query.filters import EARLIEST, FORMATS, LATEST, ReportFilters
from actionlog.store.sqltext import qualified, settings_clause

__all__ = [
    "COLUMNS",
    "FINAL_FILTER_SETTINGS",
    "FORMULA_GUARDED",
    "MAX_PAGE_ROWS",
    "Key",
    "Query",
    "QueryLimits",
    "build_count_query",
    "build_keys_query",
    "build_report_query",
    "clickhouse_format",
    "epoch_ms",
    "output_settings",
    "range_conditions",
    "scope_condition",
]

#: Output keys / CSV column order, and the table column each comes from.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("email", "email"),
    ("panorama_name", "panorama_name"),
    ("content_type", "content_type"),
    ("content_title", "content_title"),
    ("type", "action_type"),
    ("source", "source"),
    ("timestamp", "occurred_at"),
)
#: Text cells an upstream user controls; guarded against CSV formula injection.
#: ``type`` and ``source`` are catalog values, ``timestamp`` is ours.
FORMULA_GUARDED: frozenset[str] = frozenset({"email", "panorama_name", "content_type", "content_title"})

_INNER_COLUMNS = (
    "occurred_at",
    "event_id",
    "email",
    "panorama_name",
    "content_type",
    "content_title",
    "action_type",
    "source",
)
# OWASP CSV injection: cells starting with = + - @ TAB CR get a leading apostrophe.
_GUARD = "if(substring({col}, 1, 1) IN ('=', '+', '-', '@', char(9), char(13)), concat('''', {col}), {col})"
# formatDateTime's %f prints 6 digits (3 with formatdatetime_f_prints_scale_number_of_digits=1);
# the first 23 characters are 'YYYY-MM-DDTHH:MM:SS.mmm' either way, and the offset
# ('+0100' from %z) is taken from the end and given its colon.
_TS_UTC = "concat(substring(formatDateTime(r_occurred_at, '%Y-%m-%dT%H:%i:%S.%f', 'UTC'), 1, 23), 'Z')"
_TS_ZONE = (
    "concat(substring(formatDateTime(r_occurred_at, '%Y-%m-%dT%H:%i:%S.%f%z', {tz:String}) AS ts_local, 1, 23), "
    "substring(ts_local, -5, 3), ':', substring(ts_local, -2, 2))"
)

_COMMON_SETTINGS: tuple[tuple[str, str], ...] = (
    # A server/user profile must not be able to change the shape of our output.
    ("output_format_json_array_of_rows", "0"),
    ("output_format_json_escape_forward_slashes", "0"),
    ("output_format_json_validate_utf8", "1"),
    ("format_csv_delimiter", "','"),
    ("output_format_csv_crlf_end_of_line", "1"),
    # Stream in key order without buffering parts ahead of the merge: a whole-table export
    # then costs the engine tens of MB, not a buffer that grows with the table.
    ("read_in_order_use_buffering", "0"),
)
#: Keep filters on non-key columns (``ingested_at``) after FINAL: no PREWHERE before it, and a
#: skip index (``idx_ingested_at``) may only prune if the granules are expanded to every part
#: holding the same keys (otherwise FINAL could see a later duplicate without its original).
FINAL_FILTER_SETTINGS: tuple[tuple[str, str], ...] = (
    ("optimize_move_to_prewhere_if_final", "0"),
    ("use_skip_indexes_if_final_exact_mode", "1"),
)
#: A statement that reads the log only at a few instants (a page's rows, the keys at narrowing
#: candidates) sorts its few rows itself: reading each granule range in order costs a merging
#: stream per range (about 30 % of such a read on the 10M-row bench store, docs/performance.md).
SMALL_READ_SETTINGS: tuple[tuple[str, str], ...] = (("optimize_read_in_order", "0"),)


#: The most rows one page of the HTTP report holds.
MAX_PAGE_ROWS = 10_000


@dataclass(frozen=True)
class Key:
    """A row's place in the report order: newest first, then by event id."""

    occurred_ms: int
    event_id: str


@dataclass(frozen=True)
class QueryLimits:
    """What one report statement may cost: seconds (``max_execution_time``) and bytes
    (``max_memory_usage``); the statement is also ``readonly=1``."""

    max_seconds: float
    max_memory: int

    def settings(self) -> tuple[tuple[str, str], ...]:
        if not (self.max_seconds > 0 and self.max_memory > 0):
            raise ValueError("query limits must be positive")
        return (
            ("max_execution_time", f"{self.max_seconds:g}"),
            ("max_memory_usage", str(int(self.max_memory))),
            ("readonly", "1"),
        )


@dataclass(frozen=True)
class Query:
    """A statement and the values of its ``{name:Type}`` parameters."""

    sql: str
    params: dict[str, object]


def clickhouse_format(fmt: str) -> str:
    """Return the ClickHouse output format for a report format.

    ``csv`` → ``CSV`` (no header: the framer writes ours), ``json`` and ``ndjson``
    → ``JSONEachRow`` (the framer turns it into an array for ``json``).

    Raises:
        ValueError: unknown ``fmt``.
    """
    if fmt == "csv":
        return "CSV"
    if fmt in ("json", "ndjson"):
        return "JSONEachRow"
    raise ValueError(f"unknown report format {fmt!r}")


def output_settings(fmt: str) -> str:
    """Return the ``SETTINGS`` clause (without the keyword) used for ``fmt``."""
    clickhouse_format(fmt)  # validates
    return settings_clause(_COMMON_SETTINGS)


def _in_list(column: str, param: str) -> str:
    return f"has({{{param}:Array(String)}}, {column})"


def _in_list_ci(column: str, param: str) -> str:
    return f"has(arrayMap(x -> lowerUTF8(x), {{{param}:Array(String)}}), lowerUTF8({column}))"


def range_conditions(filters: ReportFilters, params: dict[str, object]) -> list[str]:
    """The report's time range on ``occurred_at`` (``from`` inclusive, ``to`` exclusive), its
    bounds bound as parameters; nothing for an open side."""
    clauses = []
    if filters.start > EARLIEST:
        params["start_ms"] = epoch_ms(filters.start)
        clauses.append("occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')")
    if filters.end < LATEST:
        params["end_ms"] = epoch_ms(filters.end)
        clauses.append("occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')")
    return clauses


def scope_condition(scope: Scope, params: dict[str, object], column: str = "panorama_id") -> list[str]:
    """The condition that keeps a limited scope to its panoramas (none for everything)."""
    if scope.panoramas is None:
        return []
    params["scope_panoramas"] = sorted(scope.panoramas)
    return [f"has({{scope_panoramas:Array(String)}}, {column})"]


def _where(
    filters: ReportFilters,
    params: dict[str, object],
    scope: Scope,
    ingested_after_ms: int | None = None,
    ingested_until_ms: int | None = None,
    within: Query | None = None,
) -> list[str]:
    clauses = scope_condition(scope, params)
    if within is not None:
        clauses.append(within.sql)
    clauses += range_conditions(filters, params)
    if ingested_after_ms is not None:
        params["ingested_after_ms"] = _check_ms("ingested_after_ms", ingested_after_ms)
        clauses.append("ingested_at > fromUnixTimestamp64Milli({ingested_after_ms:Int64}, 'UTC')")
    if ingested_until_ms is not None:
        params["ingested_until_ms"] = _check_ms("ingested_until_ms", ingested_until_ms)
        clauses.append("ingested_at <= fromUnixTimestamp64Milli({ingested_until_ms:Int64}, 'UTC')")
    if filters.panoramas:
        params["panoramas"] = list(filters.panoramas)
        clauses.append(f"({_in_list('panorama_id', 'panoramas')} OR {_in_list_ci('panorama_name', 'panoramas')})")
    if filters.learners:
        params["learners"] = list(filters.learners)
        clauses.append(f"({_in_list('learner_id', 'learners')} OR {_in_list_ci('email', 'learners')})")
    simple = (
        ("contents", filters.contents, "content_id", False),
        ("types", filters.types, "action_type", False),
        ("sources", filters.sources, "source", False),
        ("course_groups", filters.course_groups, "course_group_id", False),
        ("content_types", filters.content_types, "content_type", True),
    )
    for param, values, column, folded in simple:
        if values:
            params[param] = list(values)
            clauses.append(_in_list_ci(column, param) if folded else _in_list(column, param))
    for name, value in within.params.items() if within is not None else ():
        # The narrowing binds the same filter values under the same names; never others.
        if params.setdefault(name, value) != value:
            raise ValueError(f"parameter {name} bound twice with different values")
    return clauses or ["1"]


def _check_ms(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise ValueError(f"{name} must be an Int64 of epoch milliseconds, not {value!r}")
    return value


def _final_settings(limits: QueryLimits | None, *, small: bool = False) -> str:
    extra = SMALL_READ_SETTINGS if small else ()
    return settings_clause(FINAL_FILTER_SETTINGS + extra + (limits.settings() if limits is not None else ()))


def _settings_clause(fmt: str, limits: QueryLimits | None, *, small: bool = False) -> str:
    # FINAL must pick the surviving copy before any filter sees a row, in reports as in exports:
    # pinned whatever a server profile says (see FINAL_FILTER_SETTINGS).
    return f"{output_settings(fmt)}, {_final_settings(limits, small=small)}"


def epoch_ms(instant: datetime) -> int:
    """Epoch milliseconds of a timezone-aware instant (a finer fraction is cut)."""
    if not isinstance(instant, datetime) or instant.tzinfo is None:
        raise ValueError("filter bounds must be timezone-aware datetimes")
    delta = instant.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _select_list(filters: ReportFilters, fmt: str, params: dict[str, object]) -> list[str]:
    guard = fmt == "csv" and filters.csv_formula_guard
    items = []
    for key, column in COLUMNS:
        if key == "timestamp":
            if filters.tz == "UTC":
                expr = _TS_UTC
            else:
                params["tz"] = filters.tz
                expr = _TS_ZONE
        elif guard and key in FORMULA_GUARDED:
            expr = _GUARD.format(col=f"r_{column}")
        else:
            expr = f"r_{column}"
        items.append(f"    {expr} AS {key}")
    return items


def build_report_query(
    filters: ReportFilters,
    *,
    database: str,
    table: str,
    scope: Scope,
    output: str | None = None,
    ingested_after_ms: int | None = None,
    ingested_until_ms: int | None = None,
    page: Sequence[Key] | None = None,
    limits: QueryLimits | None = None,
    within: Query | None = None,
) -> Query:
    """Build the report statement for ``filters``.

    Args:
        filters: validated filters.
        database: configured database name (plain identifier).
        table: configured table name (plain identifier).
        scope: the rows the caller may see (a required argument: no statement forgets it).
        output: report format (``csv``/``json``/``ndjson``); defaults to ``filters.fmt``.
            Decides the formula guard and must match the ``fmt`` given to the client
            (``clickhouse_format(output)``).
        ingested_after_ms: only rows that landed strictly after this instant (epoch ms).
        ingested_until_ms: only rows that landed at or before this instant (epoch ms).
        page: exactly the rows of these keys (a page found by `build_keys_query`), in report
            order; ``filters.limit`` is then not applied (the keys are the page).
        limits: the statement's limits (none when None: every caller that runs it passes them).
        within: a further condition on the log's rows that only narrows what is read (the
            instants of `actionlog.query.narrow`); its parameters share the filters' names.

    Returns:
        The SQL (ending with its ``SETTINGS`` clause, no ``FORMAT``) and its parameters.

    Raises:
        ValueError: bad identifier, format or landing bound.
    """
    fmt = filters.fmt if output is None else output
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}")
    source = qualified(database, table)
    params: dict[str, object] = {}
    where = _where(filters, params, scope, ingested_after_ms, ingested_until_ms, within)
    if page is not None:
        where.extend(_page_condition(page, params))
    select = _select_list(filters, fmt, params)
    inner = ",\n        ".join(f"{col} AS r_{col}" for col in _INNER_COLUMNS)
    lines = [
        "SELECT",
        ",\n".join(select),
        "FROM (",
        "    SELECT",
        f"        {inner}",
        f"    FROM {source} FINAL",
        "    WHERE " + "\n      AND ".join(where),
        ")",
        "ORDER BY r_occurred_at DESC, r_event_id ASC",
    ]
    if filters.limit is not None and page is None:
        params["row_limit"] = filters.limit
        lines.append("LIMIT {row_limit:UInt64}")
    lines.append(f"SETTINGS {_settings_clause(fmt, limits, small=page is not None)}")
    return Query(sql="\n".join(lines), params=params)


def _page_condition(page: Sequence[Key], params: dict[str, object]) -> list[str]:
    if not page:
        return ["0"]
    params["page_first_ms"] = min(k.occurred_ms for k in page)
    params["page_last_ms"] = max(k.occurred_ms for k in page)
    # Two arrays, not one of tuples: parameters may travel as JSON (a local client of a worker),
    # where a tuple becomes a list that ClickHouse does not parse as a tuple.
    params["page_ms"] = [k.occurred_ms for k in page]
    params["page_ids"] = [k.event_id for k in page]
    params["page_instants"] = sorted({k.occurred_ms for k in page})
    return [
        "occurred_at >= fromUnixTimestamp64Milli({page_first_ms:Int64}, 'UTC')",
        "occurred_at <= fromUnixTimestamp64Milli({page_last_ms:Int64}, 'UTC')",
        # The instants alone let the primary key read only the page's granules (the sorting
        # key's column under a monotonic function, against a set: never `IN arrayMap(...)`,
        # which the index cannot see through).
        "toUnixTimestamp64Milli(occurred_at) IN {page_instants:Array(Int64)}",
        "(toUnixTimestamp64Milli(occurred_at), event_id) IN arrayZip({page_ms:Array(Int64)}, {page_ids:Array(String)})",
    ]


def build_keys_query(
    filters: ReportFilters,
    *,
    database: str,
    table: str,
    scope: Scope,
    after: Key | None,
    size: int,
    limits: QueryLimits | None = None,
    within: Query | None = None,
) -> Query:
    """The keys of the next ``size`` rows of the report after ``after`` (from the first row when
    None): one row ``(occurred_at epoch ms, event_id)`` each, in report order. Reads only the key
    and filter columns. ``within`` as in `build_report_query`.

    Raises:
        ValueError: bad identifier or size.
    """
    if not 1 <= size <= MAX_PAGE_ROWS + 1:
        raise ValueError(f"page size {size} is not within 1..{MAX_PAGE_ROWS + 1}")
    params: dict[str, object] = {"page_size": size}
    where = _where(filters, params, scope, within=within)
    if after is not None:
        params["after_ms"] = after.occurred_ms
        params["after_id"] = after.event_id
        where.append(
            "(occurred_at < fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC') OR"
            " (occurred_at = fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC') AND event_id > {after_id:String}))"
        )
    lines = [
        "SELECT toUnixTimestamp64Milli(occurred_at), event_id",
        f"FROM {qualified(database, table)} FINAL",
        "WHERE " + "\n  AND ".join(where),
        "ORDER BY occurred_at DESC, event_id ASC",
        "LIMIT {page_size:UInt64}",
        f"SETTINGS {_final_settings(limits, small=within is not None)}",
    ]
    return Query(sql="\n".join(lines), params=params)


def build_count_query(
    filters: ReportFilters,
    *,
    database: str,
    table: str,
    scope: Scope,
    ingested_after_ms: int | None = None,
    ingested_until_ms: int | None = None,
    limits: QueryLimits | None = None,
    within: Query | None = None,
) -> Query:
    """Build ``SELECT count()`` of the rows `build_report_query` would return (``limit`` ignored).

    The result is one row with one ``UInt64``; run it with ``query_rows``. ``within`` as in
    `build_report_query`.

    Raises:
        ValueError: bad identifier or landing bound.
    """
    source = qualified(database, table)
    params: dict[str, object] = {}
    where = _where(filters, params, scope, ingested_after_ms, ingested_until_ms, within)
    lines = [
        "SELECT count()",
        f"FROM {source} FINAL",
        "WHERE " + "\n  AND ".join(where),
        f"SETTINGS {_final_settings(limits)}",
    ]
    return Query(sql="\n".join(lines), params=params)
