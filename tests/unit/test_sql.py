"""Unit tests of query.sql: filters → one parameterized statement."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actionlog.core.scope import Scope
from actionlog.query.filters import EARLIEST, LATEST, ReportFilters
from actionlog.query.sql import (
    COLUMNS,
    FINAL_FILTER_SETTINGS,
    build_count_query,
    build_report_query,
    clickhouse_format,
)
from actionlog.store.sqltext import quote_identifier

EVERYTHING = Scope.everything()
WHERE = {"database": "d", "table": "t", "scope": EVERYTHING}

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 4, 12, 0, 0, 5000, tzinfo=UTC)
BASE = ReportFilters(start=START, end=END)
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}")


def build(filters: ReportFilters = BASE, **kwargs: object) -> tuple[str, dict[str, object]]:
    query = build_report_query(filters, database="actionlog", scope=EVERYTHING, table="content_actions_log", **kwargs)  # type: ignore[arg-type]
    return query.sql, query.params


def placeholders(sql: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, kind in PLACEHOLDER.findall(sql):
        assert found.setdefault(name, kind) == kind, f"{name} bound with two types"
    return found


# ---------------------------------------------------------------- shape


def test_base_statement() -> None:
    sql, params = build()
    assert params == {"start_ms": 1_793_491_200_000, "end_ms": 1_793_793_600_005}
    assert placeholders(sql) == {"start_ms": "Int64", "end_ms": "Int64"}
    assert "FROM `actionlog`.`content_actions_log` FINAL" in sql
    assert "occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')" in sql
    assert "occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')" in sql
    assert "ORDER BY r_occurred_at DESC, r_event_id ASC" in sql
    assert "LIMIT" not in sql
    assert "FORMAT" not in sql
    assert sql.count("SELECT") == 2  # one statement: an outer and an inner select
    assert ";" not in sql


def test_output_columns_in_order() -> None:
    sql, _ = build()
    aliases = re.findall(r" AS (\w+),?\n", sql.split("FROM (")[0])
    assert aliases == ["email", "panorama_name", "content_type", "content_title", "type", "source", "timestamp"]
    assert [key for key, _ in COLUMNS] == aliases


@pytest.mark.parametrize(
    ("fmt", "settings_wanted"),
    [
        ("csv", ["output_format_csv_crlf_end_of_line = 1", "format_csv_delimiter = ','"]),
        (
            "json",
            [
                "output_format_json_escape_forward_slashes = 0",
                "output_format_json_array_of_rows = 0",
                "output_format_json_validate_utf8 = 1",
            ],
        ),
        ("ndjson", ["output_format_json_escape_forward_slashes = 0"]),
    ],
)
def test_settings_clause_ends_the_statement(fmt: str, settings_wanted: list[str]) -> None:
    sql, _ = build(replace(BASE, fmt=fmt))
    last = sql.splitlines()[-1]
    assert last.startswith("SETTINGS ")
    for item in settings_wanted:
        assert item in last


@pytest.mark.parametrize(("fmt", "want"), [("csv", "CSV"), ("json", "JSONEachRow"), ("ndjson", "JSONEachRow")])
def test_clickhouse_format(fmt: str, want: str) -> None:
    assert clickhouse_format(fmt) == want


@pytest.mark.parametrize("fmt", ["CSV", "xml", "", "csvwithnames"])
def test_bad_format(fmt: str) -> None:
    with pytest.raises(ValueError):
        clickhouse_format(fmt)
    with pytest.raises(ValueError):
        build(BASE, output=fmt)


def test_output_overrides_filters_fmt() -> None:
    assert build(replace(BASE, fmt="json"), output="csv")[0] == build(replace(BASE, fmt="csv"))[0]


def test_limit() -> None:
    sql, params = build(replace(BASE, limit=25))
    assert "\nLIMIT {row_limit:UInt64}\n" in sql
    assert params["row_limit"] == 25


# ---------------------------------------------------------------- filters

FILTERS = [
    (
        "panoramas",
        ["p-7", "Acme"],
        "panoramas",
        [
            "(has({panoramas:Array(String)}, panorama_id) OR "
            "has(arrayMap(x -> lowerUTF8(x), {panoramas:Array(String)}), lowerUTF8(panorama_name)))"
        ],
    ),
    (
        "learners",
        ["u-1", "Ada@Example.com"],
        "learners",
        [
            "(has({learners:Array(String)}, learner_id) OR "
            "has(arrayMap(x -> lowerUTF8(x), {learners:Array(String)}), lowerUTF8(email)))"
        ],
    ),
    ("contents", ["c-42"], "contents", ["has({contents:Array(String)}, content_id)"]),
    ("types", ["enrollment", "status_change"], "types", ["has({types:Array(String)}, action_type)"]),
    ("sources", ["sso"], "sources", ["has({sources:Array(String)}, source)"]),
    ("course_groups", ["g-9"], "course_groups", ["has({course_groups:Array(String)}, course_group_id)"]),
    (
        "content_types",
        ["Course"],
        "content_types",
        ["has(arrayMap(x -> lowerUTF8(x), {content_types:Array(String)}), lowerUTF8(content_type))"],
    ),
]


@pytest.mark.parametrize(("field", "values", "param", "fragments"), FILTERS)
def test_filter(field: str, values: list[str], param: str, fragments: list[str]) -> None:
    sql, params = build(replace(BASE, **{field: tuple(values)}))
    for fragment in fragments:
        assert f"\n      AND {fragment}\n" in sql
    assert params[param] == values
    assert placeholders(sql)[param] == "Array(String)"
    assert set(placeholders(sql)) == set(params)


def test_all_filters_are_anded() -> None:
    everything = {field: tuple(values) for field, values, _, _ in FILTERS}
    sql, params = build(replace(BASE, **everything))  # type: ignore[arg-type]
    where = sql.split("WHERE ", 1)[1].split("\n)", 1)[0]
    assert where.count("\n      AND ") == 2 - 1 + len(FILTERS)
    assert set(placeholders(sql)) == set(params) == {"start_ms", "end_ms"} | {p for _, _, p, _ in FILTERS}


# ---------------------------------------------------------------- landing window and unbounded range

AFTER = "ingested_at > fromUnixTimestamp64Milli({ingested_after_ms:Int64}, 'UTC')"
UNTIL = "ingested_at <= fromUnixTimestamp64Milli({ingested_until_ms:Int64}, 'UTC')"
OCC_START = "occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')"
OCC_END = "occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')"

WINDOWS = [
    # (start, end, ingested_after_ms, ingested_until_ms, clauses present, clauses absent, params)
    (
        START,
        END,
        None,
        None,
        [OCC_START, OCC_END],
        [AFTER, UNTIL],
        {"start_ms": 1_793_491_200_000, "end_ms": 1_793_793_600_005},
    ),
    (
        START,
        END,
        0,
        1_795_000_000_000,
        [OCC_START, OCC_END, AFTER, UNTIL],
        [],
        {
            "start_ms": 1_793_491_200_000,
            "end_ms": 1_793_793_600_005,
            "ingested_after_ms": 0,
            "ingested_until_ms": 1_795_000_000_000,
        },
    ),
    (
        START,
        END,
        5,
        None,
        [AFTER],
        [UNTIL],
        {"start_ms": 1_793_491_200_000, "end_ms": 1_793_793_600_005, "ingested_after_ms": 5},
    ),
    (EARLIEST, LATEST, 5, 9, [AFTER, UNTIL], [OCC_START, OCC_END], {"ingested_after_ms": 5, "ingested_until_ms": 9}),
    (
        EARLIEST,
        END,
        None,
        9,
        [OCC_END, UNTIL],
        [OCC_START, AFTER],
        {"end_ms": 1_793_793_600_005, "ingested_until_ms": 9},
    ),
    (
        START,
        LATEST,
        -1,
        None,
        [OCC_START, AFTER],
        [OCC_END, UNTIL],
        {"start_ms": 1_793_491_200_000, "ingested_after_ms": -1},
    ),
]


@pytest.mark.parametrize(("start", "end", "after", "until", "present", "absent", "want"), WINDOWS)
def test_landing_window_and_range_bounds(
    start: datetime,
    end: datetime,
    after: int | None,
    until: int | None,
    present: list[str],
    absent: list[str],
    want: dict[str, object],
) -> None:
    filters = replace(BASE, start=start, end=end)
    for query in (
        build_report_query(
            filters, database="d", scope=EVERYTHING, table="t", ingested_after_ms=after, ingested_until_ms=until
        ),
        build_count_query(
            filters, database="d", scope=EVERYTHING, table="t", ingested_after_ms=after, ingested_until_ms=until
        ),
    ):
        for clause in present:
            assert clause in query.sql
        for clause in absent:
            assert clause not in query.sql
        assert query.params == want
        assert set(placeholders(query.sql)) == set(want)
        assert "FROM `d`.`t` FINAL" in query.sql
        for name, value in FINAL_FILTER_SETTINGS:  # pinned in every statement, windowed or not
            assert f"{name} = {value}" in query.sql.splitlines()[-1]


def test_no_condition_at_all_still_makes_a_where() -> None:
    query = build_count_query(replace(BASE, start=EARLIEST, end=LATEST), database="d", scope=EVERYTHING, table="t")
    assert query.sql.splitlines()[:3] == ["SELECT count()", "FROM `d`.`t` FINAL", "WHERE 1"]
    assert query.params == {}


def test_count_query_ignores_limit_and_keeps_filters() -> None:
    filters = replace(BASE, limit=3, types=("enrollment",), learners=("u-1",))
    query = build_count_query(
        filters, database="d", scope=EVERYTHING, table="t", ingested_after_ms=1, ingested_until_ms=2
    )
    assert "LIMIT" not in query.sql and "row_limit" not in query.params
    assert query.params["types"] == ["enrollment"] and query.params["learners"] == ["u-1"]
    assert query.sql.startswith("SELECT count()\nFROM `d`.`t` FINAL\nWHERE ")


@pytest.mark.parametrize("bad", [1.5, "5", True, 2**63, -(2**63) - 1])
def test_bad_landing_bound(bad: object) -> None:
    with pytest.raises(ValueError):
        build_report_query(BASE, database="d", scope=EVERYTHING, table="t", ingested_after_ms=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        build_count_query(BASE, database="d", scope=EVERYTHING, table="t", ingested_until_ms=bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- timestamp and formula guard


def test_timestamp_utc_needs_no_zone_parameter() -> None:
    sql, params = build()
    assert "'%Y-%m-%dT%H:%i:%S.%f', 'UTC'), 1, 23), 'Z') AS timestamp" in sql
    assert "tz" not in params


@pytest.mark.parametrize("tz", ["Europe/Paris", "America/New_York", "Asia/Kolkata", "GMT"])
def test_timestamp_in_a_zone_binds_the_zone(tz: str) -> None:
    sql, params = build(replace(BASE, tz=tz))
    assert params["tz"] == tz
    assert "{tz:String}" in sql
    assert tz not in sql


@pytest.mark.parametrize(
    ("fmt", "guard", "guarded"),
    [
        ("csv", True, True),
        ("csv", False, False),
        ("json", True, False),
        ("ndjson", True, False),
    ],
)
def test_formula_guard(fmt: str, guard: bool, guarded: bool) -> None:
    sql, _ = build(replace(BASE, fmt=fmt, csv_formula_guard=guard))
    for column in ("email", "panorama_name", "content_type", "content_title"):
        expr = f"concat('''', r_{column}), r_{column}) AS {column}"
        assert (expr in sql) is guarded
        assert (f"    r_{column} AS {column}" in sql) is not guarded
    assert "    r_action_type AS type" in sql
    assert "    r_source AS source" in sql


# ---------------------------------------------------------------- identifiers


@pytest.mark.parametrize("name", ["actionlog", "_x", "A1_b2", "content_actions_log"])
def test_good_identifier(name: str) -> None:
    assert quote_identifier(name) == f"`{name}`"


@pytest.mark.parametrize(
    "name", ["", "1db", "a-b", "a`b", "a.b", "db; DROP TABLE x", "dé", "a b", "a\x00", "`a`", "a\n"]
)
def test_bad_identifier(name: str) -> None:
    with pytest.raises(ValueError):
        quote_identifier(name)
    with pytest.raises(ValueError):
        build_report_query(BASE, database=name, scope=EVERYTHING, table="t")
    with pytest.raises(ValueError):
        build_report_query(BASE, database="d", scope=EVERYTHING, table=name)


# ---------------------------------------------------------------- injection

HOSTILE = [
    "'; DROP TABLE content_actions_log; --",
    "{name:String}",
    "{panoramas:Array(String)}",
    "') OR 1=1 OR ('",
    "\\' OR 1 --",
    "back\\slash\\",
    "nul\x00byte",
    "` FINAL; SELECT 1 --",
    "$$heredoc$$",
    "x" * 10_000,
    "é漢字🙂\u2028\u202e",
    '=HYPERLINK("http://evil")',
    "line\r\nbreak",
    "*/ /*",
]
FIELDS = ("panoramas", "contents", "learners", "types", "sources", "course_groups", "content_types")


@pytest.mark.parametrize("field", FIELDS)
def test_hostile_values_only_travel_as_parameters(field: str) -> None:
    plain_sql, _ = build(replace(BASE, **{field: ("plain",)}))
    sql, params = build(replace(BASE, **{field: tuple(HOSTILE)}))
    assert sql == plain_sql  # the values changed nothing in the text...
    for value in HOSTILE:
        if value != "{panoramas:Array(String)}":  # (our own placeholder, legitimately there)
            assert value not in sql  # ...and none of them is in it
    assert set(params) == set(placeholders(sql))
    assert [v for v in params.values() if isinstance(v, list)] == [HOSTILE]


text_values = st.lists(st.text(min_size=1, max_size=30), max_size=4).map(tuple)


@settings(max_examples=200, deadline=None)
@given(
    values=st.fixed_dictionaries({field: text_values for field in FIELDS}),
    limit=st.none() | st.integers(min_value=1, max_value=2**63 - 1),
    fmt=st.sampled_from(["csv", "json", "ndjson"]),
    guard=st.booleans(),
    tz=st.sampled_from(["UTC", "Europe/Paris"]),
)
def test_sql_text_depends_only_on_which_filters_are_set(
    values: dict[str, tuple[str, ...]], limit: int | None, fmt: str, guard: bool, tz: str
) -> None:
    filters = ReportFilters(START, END, limit=limit, fmt=fmt, csv_formula_guard=guard, tz=tz, **values)
    shape = {field: ("v",) if vals else () for field, vals in values.items()}
    neutral = ReportFilters(START, END, limit=1 if limit else None, fmt=fmt, csv_formula_guard=guard, tz=tz, **shape)
    sql, params = build(filters)
    assert sql == build(neutral)[0]
    assert set(params) == set(placeholders(sql))
    for field, vals in values.items():
        if vals:
            assert params[field] == list(vals)
