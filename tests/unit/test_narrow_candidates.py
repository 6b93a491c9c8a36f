"""The narrowing candidates (`actionlog.query.narrow`) as text: which conditions each one carries.

The driving family's own condition is implied by its keys and left out; every other filter on
the keys' attributes, and the caller's scope, stay (a copy that matches the report must match
the candidates, and a foreign panorama must never be reached)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from actionlog.core.scope import Scope
from actionlog.query.filters import parse_report_params
from actionlog.query.narrow import MAX_KEYS_READ_IN_ORDER, candidates_query, candidates_within
from actionlog.store.schema import KEYS_INDEX_GRANULARITY, filter_keys_ddl

NOW = datetime(2026, 11, 20, tzinfo=UTC)
PANORAMA = (
    "(has({panoramas:Array(String)}, panorama_id)"
    " OR has(arrayMap(x -> lowerUTF8(x), {panoramas:Array(String)}), lowerUTF8(panorama_name)))"
)
GROUP = "has({course_groups:Array(String)}, course_group_id)"
TYPES = "has({types:Array(String)}, action_type)"
SCOPE = "has({scope_panoramas:Array(String)}, panorama_id)"


def candidates(params: dict[str, list[str]], scope: Scope | None = None) -> str:
    filters = parse_report_params(params, now=NOW)
    query = candidates_query(filters, database="d", table="t", scope=scope or Scope.everything(), upto_ms=None, n=5)
    assert query is not None
    return query.sql


@pytest.mark.parametrize(
    ("params", "present", "absent"),
    [
        ({"panorama": ["p-1"]}, [], [PANORAMA]),
        ({"course-group": ["g-1"]}, [], [GROUP]),
        ({"course-group": ["g-1"], "panorama": ["p-1"]}, [PANORAMA], [GROUP]),
        ({"panorama": ["p-1"], "type": ["enrollment"]}, [TYPES], [PANORAMA]),
        ({"learner": ["u-1"], "panorama": ["p-1"], "course-group": ["g-1"]}, [PANORAMA, GROUP], []),
        ({"content": ["c-1"], "course-group": ["g-1"]}, [GROUP], []),
    ],
    ids=["panorama", "group", "group drives panorama", "panorama drives type", "learner drives", "content drives"],
)
def test_the_driving_family_s_own_condition_is_left_out(
    params: dict[str, list[str]], present: list[str], absent: list[str]
) -> None:
    sql = candidates(params)
    for condition in present:
        assert condition in sql
    for condition in absent:
        assert condition not in sql


def test_a_panorama_driven_read_keeps_the_scope() -> None:
    sql = candidates({"panorama": ["p-1"]}, Scope.of(["p-1", "p-2"]))
    assert sql.count(SCOPE) == 2  # the id's and the name's keys, each scoped
    assert PANORAMA not in sql


def test_the_whole_report_s_subquery_leaves_out_the_same_condition() -> None:
    filters = parse_report_params({"panorama": ["p-1"], "type": ["enrollment"]}, now=NOW)
    query = candidates_within(filters, database="d", table="t", scope=Scope.everything())
    assert query is not None
    assert PANORAMA not in query.sql
    assert TYPES in query.sql


def test_reads_in_order_take_one_key_granule_per_block() -> None:
    assert "SETTINGS max_block_size = 8192" in candidates({"learner": ["u-1"]})
    many = [f"u-{i}" for i in range(MAX_KEYS_READ_IN_ORDER)]  # two keys each: id and email
    assert "max_block_size" not in candidates({"learner": many})


def test_the_keys_table_has_small_granules() -> None:
    ddl, _, _ = filter_keys_ddl("d", "t")
    assert f"SETTINGS index_granularity = {KEYS_INDEX_GRANULARITY}\n" in ddl
    assert KEYS_INDEX_GRANULARITY < 8192


def test_a_content_under_a_learner_is_one_grouped_read_of_both_families() -> None:
    sql = candidates({"learner": ["u-1"], "content": ["c-1"], "type": ["enrollment"]}, Scope.of(["p-1"]))
    assert sql.count("FROM `d`.`t_filter_keys`") == 1  # no set of the content's instants read apart
    assert "GROUP BY occurred_at" in sql
    where, having = sql.split("WHERE ")[1].split("HAVING ")
    assert SCOPE in where and SCOPE not in having  # every key row read is the caller's
    driver, content = having.split(" > 0 AND ")
    assert "'l:'" in driver and TYPES in driver  # the report's type, on the learner's key rows
    assert "'c:'" in content and TYPES not in content  # a content's row of another copy still counts
