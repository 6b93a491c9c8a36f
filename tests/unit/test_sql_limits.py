"""Every report statement carries its limits in its own SETTINGS clause (so they hold wherever it
runs: the embedded engine, a server, the worker holding the store), and is read-only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from actionlog.core.scope import Scope
from actionlog.core.settings import ClickHouseSettings
from actionlog.query.filters import parse_report_params
from actionlog.query.narrow import candidates_query
from actionlog.query.report import limits_of
from actionlog.query.sql import QueryLimits, build_count_query, build_keys_query, build_report_query

NOW = datetime(2026, 11, 20, tzinfo=UTC)
WHERE = {"database": "a", "table": "b", "scope": Scope.everything()}


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_the_limits_end_the_statement(fmt: str) -> None:
    filters = parse_report_params({"format": [fmt], "panorama": ["p"]}, now=NOW)
    limits = QueryLimits(max_seconds=12.5, max_memory=3 << 20)
    for query in (
        build_report_query(filters, **WHERE, limits=limits),  # type: ignore[arg-type]
        build_count_query(filters, **WHERE, limits=limits),  # type: ignore[arg-type]
        build_keys_query(filters, **WHERE, after=None, size=10, limits=limits),  # type: ignore[arg-type]
        candidates_query(filters, **WHERE, upto_ms=None, n=10, limits=limits),  # type: ignore[arg-type]
    ):
        assert query is not None
        settings = query.sql.rsplit("SETTINGS ", 1)[1]
        assert "max_execution_time = 12.5, max_memory_usage = 3145728, readonly = 1" in settings
        assert "{" not in settings  # constants of ours, never parameters


def test_the_limits_come_from_the_store_settings() -> None:
    class Store:
        settings = ClickHouseSettings.from_env(
            {"ACTIONLOG_CLICKHOUSE_QUERY_MAX_SECONDS": "60", "ACTIONLOG_CLICKHOUSE_QUERY_MAX_MEMORY": str(1 << 30)}
        )

    assert limits_of(Store()) == QueryLimits(60.0, 1 << 30)  # type: ignore[arg-type]


def test_limits_must_be_positive() -> None:
    filters = parse_report_params({}, now=NOW)
    with pytest.raises(ValueError):
        build_report_query(filters, **WHERE, limits=QueryLimits(0, 1))  # type: ignore[arg-type]
