"""The report and count statements whole, as the module's docstring draws them (docs/report.md):
the inner select renames the columns, FINAL, one WHERE of ANDed conditions in a fixed order
(scope, narrowing, range, landing window, filters), the report order, the SETTINGS last. And the
small checks around them: limits, formats, instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from actionlog.core.scope import Scope
from actionlog.query.filters import ReportFilters
from actionlog.query.sql import Query, QueryLimits, build_count_query, build_report_query, clickhouse_format, epoch_ms

WHERE = {"database": "d", "table": "t", "scope": Scope.everything()}
BASE = ReportFilters(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC), fmt="ndjson")
WITHIN = Query("toUnixTimestamp64Milli(occurred_at) IN {within_ms:Array(Int64)}", {"within_ms": [7, 8]})
CONDITIONS = [
    WITHIN.sql,
    "occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')",
    "occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')",
    "ingested_at > fromUnixTimestamp64Milli({ingested_after_ms:Int64}, 'UTC')",
    "ingested_at <= fromUnixTimestamp64Milli({ingested_until_ms:Int64}, 'UTC')",
]
PARAMS = {"within_ms": [7, 8], "start_ms": 1_793_491_200_000, "end_ms": 1_793_577_600_000}
LANDING = {"ingested_after_ms": 5, "ingested_until_ms": 9}
FINAL_SETTINGS = "optimize_move_to_prewhere_if_final = 0, use_skip_indexes_if_final_exact_mode = 1"


def test_the_count_statement_whole() -> None:
    query = build_count_query(BASE, **WHERE, **LANDING, within=WITHIN)  # type: ignore[arg-type]
    assert query.sql == (
        "SELECT count()\nFROM `d`.`t` FINAL\nWHERE " + "\n  AND ".join(CONDITIONS) + f"\nSETTINGS {FINAL_SETTINGS}"
    )
    assert query.params == {**PARAMS, **LANDING}


def test_the_report_statement_whole_but_its_output_expressions() -> None:
    query = build_report_query(BASE, **WHERE, **LANDING, within=WITHIN)  # type: ignore[arg-type]
    head, _, rest = query.sql.partition("\nFROM (\n")
    assert head.split("\n")[0] == "SELECT" and head.count(" AS ") == 7
    renamed = ["occurred_at", "event_id", "email", "panorama_name", "content_type", "content_title"]
    renamed += ["action_type", "source"]
    inner = ",\n        ".join(f"{column} AS r_{column}" for column in renamed)
    assert rest.rsplit("\nSETTINGS ", 1)[0] == (
        f"    SELECT\n        {inner}\n    FROM `d`.`t` FINAL\n    WHERE "
        + "\n      AND ".join(CONDITIONS)
        + "\n)\nORDER BY r_occurred_at DESC, r_event_id ASC"
    )
    assert rest.endswith(FINAL_SETTINGS)
    assert query.params == {**PARAMS, **LANDING}


@pytest.mark.parametrize(
    ("seconds", "memory", "wanted"),
    [
        (0.5, 1, (("max_execution_time", "0.5"), ("max_memory_usage", "1"), ("readonly", "1"))),
        (900, 2 << 30, (("max_execution_time", "900"), ("max_memory_usage", "2147483648"), ("readonly", "1"))),
    ],
)
def test_limits_down_to_the_smallest_positive(seconds: float, memory: int, wanted: tuple[tuple[str, str], ...]) -> None:
    assert QueryLimits(seconds, memory).settings() == wanted


@pytest.mark.parametrize(("seconds", "memory"), [(0, 1), (-1, 1), (1, 0), (1, -5)])
def test_limits_that_are_not_positive_are_refused(seconds: float, memory: int) -> None:
    with pytest.raises(ValueError, match=r"^query limits must be positive$"):
        QueryLimits(seconds, memory).settings()


@pytest.mark.parametrize("build", [clickhouse_format, lambda fmt: build_report_query(BASE, **WHERE, output=fmt)])  # type: ignore[arg-type]
def test_an_unknown_format_is_named(build: object) -> None:
    with pytest.raises(ValueError, match=r"^unknown report format 'xml'$"):
        build("xml")  # type: ignore[operator]


@pytest.mark.parametrize("bad", [datetime(2026, 11, 1), "2026-11-01", 0])
def test_an_instant_must_be_a_timezone_aware_datetime(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^filter bounds must be timezone-aware datetimes$"):
        epoch_ms(bad)  # type: ignore[arg-type]


def test_an_instant_in_any_zone_is_its_utc_milliseconds() -> None:
    utc = datetime(2026, 11, 1, 0, 0, 0, 999_999, tzinfo=UTC)
    assert epoch_ms(utc) == 1_793_491_200_999  # a finer fraction is cut, not rounded
    assert epoch_ms(utc.astimezone(timezone(timedelta(hours=-9, minutes=-30)))) == 1_793_491_200_999
    assert epoch_ms(datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)) == -1
