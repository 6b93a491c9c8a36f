"""The paging statements of query.sql, as text and parameters: the keys of the next page
(`build_keys_query`, keyset on the report order) and the page's rows read by their keys
(`build_report_query(page=...)`). The integration tests run them on the engine; these pin what
each one says, so that a changed comparison, bound or name fails here first."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from actionlog.core.scope import Scope
from actionlog.query.filters import ReportFilters
from actionlog.query.sql import MAX_PAGE_ROWS, Key, Query, QueryLimits, build_keys_query, build_report_query

WHERE = {"database": "d", "table": "t", "scope": Scope.everything()}
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 2, tzinfo=UTC)
BASE = ReportFilters(start=START, end=END)
START_MS, END_MS = 1_793_491_200_000, 1_793_577_600_000
RANGE = [
    "occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')",
    "occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')",
]
FINAL = "SETTINGS optimize_move_to_prewhere_if_final = 0, use_skip_indexes_if_final_exact_mode = 1"


def keys(after: Key | None = None, size: int = 3, **kwargs: object) -> Query:
    return build_keys_query(BASE, **WHERE, after=after, size=size, **kwargs)  # type: ignore[arg-type]


def test_the_first_page_of_keys() -> None:
    query = keys()
    assert query.sql == "\n".join(
        [
            "SELECT toUnixTimestamp64Milli(occurred_at), event_id",
            "FROM `d`.`t` FINAL",
            "WHERE " + "\n  AND ".join(RANGE),
            "ORDER BY occurred_at DESC, event_id ASC",
            "LIMIT {page_size:UInt64}",
            FINAL,
        ]
    )
    assert query.params == {"page_size": 3, "start_ms": START_MS, "end_ms": END_MS}


def test_the_next_page_starts_strictly_after_the_last_key_in_report_order() -> None:
    query = keys(Key(occurred_ms=1_793_500_000_123, event_id="e-7"), size=11)
    after = (
        "(occurred_at < fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC') OR"
        " (occurred_at = fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC') AND event_id > {after_id:String}))"
    )
    assert query.sql.split("\n")[2:6] == [
        "WHERE " + RANGE[0],
        "  AND " + RANGE[1],
        "  AND " + after,
        "ORDER BY occurred_at DESC, event_id ASC",
    ]
    assert query.params == {
        "page_size": 11,
        "start_ms": START_MS,
        "end_ms": END_MS,
        "after_ms": 1_793_500_000_123,
        "after_id": "e-7",
    }


@pytest.mark.parametrize("size", [1, MAX_PAGE_ROWS, MAX_PAGE_ROWS + 1])
def test_page_sizes_up_to_one_over_the_largest_page(size: int) -> None:
    # One over the page: the extra key says whether a next page exists.
    assert keys(size=size).params["page_size"] == size


@pytest.mark.parametrize("size", [0, -1, MAX_PAGE_ROWS + 2])
def test_other_page_sizes_are_refused_with_the_size(size: int) -> None:
    with pytest.raises(ValueError, match=rf"page size {size} is not within 1\.\.{MAX_PAGE_ROWS + 1}"):
        keys(size=size)


def test_the_keys_statement_carries_its_limits_after_the_final_settings() -> None:
    sql = keys(limits=QueryLimits(max_seconds=2, max_memory=10)).sql
    assert sql.endswith(f"{FINAL}, max_execution_time = 2, max_memory_usage = 10, readonly = 1")


def test_a_narrowing_shares_the_filters_names_and_adds_its_own() -> None:
    within = Query("event_id IN {narrow_ids:Array(String)}", {"narrow_ids": ["a"], "end_ms": END_MS})
    query = keys(within=within)
    assert "WHERE event_id IN {narrow_ids:Array(String)}\n  AND " + RANGE[0] in query.sql
    assert query.params == {"page_size": 3, "start_ms": START_MS, "end_ms": END_MS, "narrow_ids": ["a"]}


def test_a_narrowing_that_binds_a_filter_name_to_another_value_is_refused() -> None:
    within = Query("1", {"end_ms": END_MS + 1})
    with pytest.raises(ValueError, match="end_ms bound twice"):
        keys(within=within)


# ---------------------------------------------------------------- the page's rows by their keys

PAGE = [Key(30, "c"), Key(10, "a"), Key(30, "b"), Key(20, "z")]


def page_where(page: list[Key]) -> tuple[list[str], dict[str, object]]:
    query = build_report_query(BASE, **WHERE, page=page)  # type: ignore[arg-type]
    where = query.sql.split("    WHERE ", 1)[1].split("\n)", 1)[0]
    return where.split("\n      AND "), query.params


def test_a_page_is_read_by_its_keys_within_its_first_and_last_instant() -> None:
    where, params = page_where(PAGE)
    assert where == [
        *RANGE,
        "occurred_at >= fromUnixTimestamp64Milli({page_first_ms:Int64}, 'UTC')",
        "occurred_at <= fromUnixTimestamp64Milli({page_last_ms:Int64}, 'UTC')",
        "toUnixTimestamp64Milli(occurred_at) IN {page_instants:Array(Int64)}",
        "(toUnixTimestamp64Milli(occurred_at), event_id) IN arrayZip({page_ms:Array(Int64)}, {page_ids:Array(String)})",
    ]
    assert params == {
        "start_ms": START_MS,
        "end_ms": END_MS,
        "page_first_ms": 10,
        "page_last_ms": 30,
        "page_ms": [30, 10, 30, 20],  # pairs: the n-th instant goes with the n-th id
        "page_ids": ["c", "a", "b", "z"],
        "page_instants": [10, 20, 30],  # each instant once, in order
    }


def test_an_empty_page_reads_nothing() -> None:
    where, params = page_where([])
    assert where == [*RANGE, "0"]
    assert not any(name.startswith("page_") for name in params)


def test_a_page_ignores_the_row_limit() -> None:
    query = build_report_query(replace(BASE, limit=2), **WHERE, page=PAGE)  # type: ignore[arg-type]
    assert "LIMIT" not in query.sql and "row_limit" not in query.params
    assert "ORDER BY r_occurred_at DESC, r_event_id ASC" in query.sql


SMALL = "optimize_read_in_order = 0"


def test_a_page_read_by_its_keys_sorts_its_few_rows_itself() -> None:
    assert SMALL in build_report_query(BASE, **WHERE, page=PAGE).sql  # type: ignore[arg-type]
    assert SMALL not in build_report_query(BASE, **WHERE).sql  # type: ignore[arg-type]


def test_keys_at_narrowing_instants_sort_themselves_but_keys_by_time_read_in_order() -> None:
    within = Query("toUnixTimestamp64Milli(occurred_at) IN {within_ms:Array(Int64)}", {"within_ms": [1]})
    assert f"{FINAL}, {SMALL}" in keys(within=within).sql
    assert SMALL not in keys().sql  # a window of the newest rows: read in order, stop at the page
