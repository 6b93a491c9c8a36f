"""Every statement a caller can cause carries the caller's scope as one bound condition, first in
its WHERE, whatever else it asks (docs/access.md): the report, its count, the keys of a page, the
narrowing candidates and each choice list. Everything (an admin) adds no condition."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from actionlog.core.scope import Scope
from actionlog.query.choices import content_types_query, contents_query, course_groups_query, panoramas_query
from actionlog.query.filters import parse_report_params
from actionlog.query.narrow import candidates_query, candidates_within
from actionlog.query.sql import Query, build_count_query, build_keys_query, build_report_query, scope_condition

NOW = datetime(2026, 11, 20, tzinfo=UTC)
CONDITION = "has({scope_panoramas:Array(String)}, panorama_id)"
# A filter naming a panorama, a learner and a content: the narrowing candidates apply too.
FILTERS = parse_report_params({"panorama": ["p-9"], "learner": ["u-1"], "content": ["c-1"]}, now=NOW)

Build = Callable[[Scope], Query | None]
STATEMENTS: dict[str, Build] = {
    "report": lambda s: build_report_query(FILTERS, database="d", table="t", scope=s),
    "count": lambda s: build_count_query(FILTERS, database="d", table="t", scope=s),
    "keys": lambda s: build_keys_query(FILTERS, database="d", table="t", scope=s, after=None, size=5),
    "candidates": lambda s: candidates_query(FILTERS, database="d", table="t", scope=s, upto_ms=None, n=5),
    "candidates within": lambda s: candidates_within(FILTERS, database="d", table="t", scope=s),
    "panoramas": lambda s: panoramas_query("d", "t", s),
    "contents": lambda s: contents_query("d", "t", s, "intro", 5),
    "course groups": lambda s: course_groups_query("d", "t", s),
    "content types": lambda s: content_types_query("d", "t", s),
}


def test_the_scope_binds_its_panoramas_sorted_under_one_name() -> None:
    params: dict[str, object] = {}
    assert scope_condition(Scope.of({"p-2", "p-10", "p-1"}), params) == [CONDITION]
    assert params == {"scope_panoramas": ["p-1", "p-10", "p-2"]}


def test_the_scope_may_name_another_column() -> None:
    params: dict[str, object] = {}
    assert scope_condition(Scope.of({"p"}), params, "pid") == ["has({scope_panoramas:Array(String)}, pid)"]


def test_everything_binds_nothing() -> None:
    params: dict[str, object] = {}
    assert scope_condition(Scope.everything(), params) == []
    assert params == {}


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_every_statement_carries_a_limited_scope(name: str) -> None:
    query = STATEMENTS[name](Scope.of({"p-1", "p-2"}))
    assert query is not None
    assert query.params["scope_panoramas"] == ["p-1", "p-2"]
    assert CONDITION in query.sql
    # In every WHERE of the statement (each read of a table), never only in a SELECT list or a HAVING.
    wheres = [part.split("\n")[0] for part in query.sql.split("WHERE ")[1:]]
    assert wheres and all(CONDITION in where for where in wheres), query.sql


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_everything_adds_no_scope_to_any_statement(name: str) -> None:
    query = STATEMENTS[name](Scope.everything())
    assert query is not None
    assert "scope_panoramas" not in query.sql and "scope_panoramas" not in query.params
