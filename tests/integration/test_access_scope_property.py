"""A panorama token never sees a row outside its scope, whatever the parameters: random filter
sets (ids and names of every panorama, case variants, learners, contents of other clients...)
through every data route, with random scoped tokens; every row that comes back is checked."""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actionlog.access.guard import registry
from actionlog.core.settings import ClickHouseSettings
from testkit.rows import land, row
from testkit.served import Served, ServedStore

pytestmark = pytest.mark.integration

NAMES = {"p-1": "Acme Academy", "p-2": "Globex U", "p-3": "Initech Learning", "": ""}
OWNER = {name: pid for pid, name in NAMES.items()}
ROWS = [
    row(
        event_id=f"e{pid}-{i}",
        occurred_at=1_795_000_000_000 - i * 3_600_000,
        panorama_id=pid,
        panorama_name=name,
        learner_id=f"u-{i % 4}",
        email=f"l{i % 4}@example.com",
        content_id=f"c-{i % 3}",
        content_type=("course", "video")[i % 2],
        course_group_id=f"g-{i % 2}",
        action_type=("enrollment", "status_change")[i % 2],
        source=("sso", "course_completed")[i % 2],
    )
    for pid, name in NAMES.items()
    for i in range(6)
]
SCOPES = [frozenset(c) for n in (1, 2, 3) for c in itertools.combinations(["p-1", "p-2", "p-3"], n)]
VALUES = {
    "panorama": ["p-1", "p-2", "p-3", "P-1", "acme academy", "GLOBEX U", "Initech Learning", "nobody", " p-1"],
    "learner": ["u-0", "u-1", "L2@EXAMPLE.COM", "u-9"],
    "content": ["c-0", "c-1", "c-2"],
    "content-type": ["COURSE", "video"],
    "course-group": ["g-0", "g-1"],
    "type": ["enrollment", "status-change"],
    "source": ["sso", "course_completed"],
}


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[frozenset[str], str]]]:
    settings = ClickHouseSettings(url=f"chdb://{tmp_path_factory.mktemp('scope') / 'chdb'}")
    with ServedStore(settings) as served:
        land(served.store, ROWS)
        tokens = {
            scope: registry(served.store).create(f"scope-{'-'.join(sorted(scope))}", "panorama", scope)
            for scope in SCOPES
        }
        yield served, tokens


filter_sets = st.sets(st.sampled_from(sorted(VALUES)), max_size=3).flatmap(
    lambda keys: st.fixed_dictionaries(
        {k: st.lists(st.sampled_from(VALUES[k]), min_size=1, max_size=3, unique=True) for k in keys}
    )
)


def get(served: Served, token: str, params: dict[str, list[str]]) -> tuple[int, Any]:
    query = urllib.parse.urlencode(
        [("from", "2026-01-01"), ("to", "2026-12-31"), ("format", "json")]
        + [(k, v) for k, vs in params.items() for v in vs]
    )
    request = urllib.request.Request(
        f"{served.url}/reports/content-actions-log?{query}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scope=st.sampled_from(SCOPES), params=filter_sets)
def test_no_row_outside_the_scope(
    held: tuple[Served, dict[frozenset[str], str]], scope: frozenset[str], params: dict[str, list[str]]
) -> None:
    served, tokens = held
    status, body = get(served, tokens[scope], params)
    assert status in (200, 403), body
    if status == 403:
        assert body["error"] == "forbidden" and "panorama" in params
        return
    for r in body:
        assert OWNER[r["panorama_name"]] in scope, (scope, params, r)


def test_the_property_reaches_rows(held: tuple[Served, dict[frozenset[str], str]]) -> None:
    """The generated requests are not all empty or refused: unfiltered, each scope sees exactly its rows."""
    served, tokens = held
    for scope, token in tokens.items():
        status, body = get(served, token, {})
        assert status == 200
        assert sorted(OWNER[r["panorama_name"]] for r in body) == sorted(p for p in scope for _ in range(6))
