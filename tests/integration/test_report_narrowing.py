"""The narrowed report (filter keys, windows by time; docs/performance.md#reports) against the plain
statement: the same rows, in the same order, for every shape of filters and scopes, on a store with
unmerged duplicate traps.

The store: ~6,000 generated rows over 400 days up to now (groups of three events share an instant,
so an instant holds matching and non-matching rows), then, each in a part of its own and never
merged: D1, losing copies (landed a day later) of events re-pointed to the values filtered on,
which must never show; D2, winning copies (landed a second earlier) of some of those values'
events re-pointed elsewhere, which the values must lose. The plain statement
(`build_report_query` with no narrowing: one FINAL read of the range) is the oracle; the code under
test is what the CLI and HTTP run: `report_chunks` (whole, and with a limit), `open_page` followed
page by page, and `count_rows`. Every statement it runs carries the caller's scope.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from actionlog.core.scope import Scope
from actionlog.core.settings import ClickHouseSettings
from actionlog.query.filters import parse_report_params
from actionlog.query.framing import Framer
from actionlog.query.pages import open_page
from actionlog.query.report import count_rows, framed, report_chunks
from actionlog.query.sql import build_count_query, build_report_query, clickhouse_format
from actionlog.store import read_all
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.schema import FILTER_KEYS, ensure_log_schema
from actionlog.store.sqltext import qualified
from testkit.recording import Recording

pytestmark = pytest.mark.integration

N = 6000
DAY = 86_400_000
NOW_MS = int(time.time() * 1000)
COLUMNS = (
    "event_id, occurred_at, action_type, source, learner_id, email, panorama_id, panorama_name, content_id, "
    "content_type, content_title, course_group_id, actor_id, actor_email, ingested_at, kafka_topic, "
    "kafka_partition, kafka_offset"
)


def generate(table: str) -> str:
    """N rows: 12 learners (mixed-case emails), 40 contents, 5 panoramas + the main site (names in
    two cases), 6 course groups, four Type/Source pairs; three events per instant."""
    return f"""
INSERT INTO {table} ({COLUMNS})
WITH
    ['enrollment', 'enrollment', 'status_change', 'certificate_grant'] AS types,
    ['sso', 'course_purchase', 'course_completed', 'manual'] AS sources,
    cityHash64(number, 1) % 4 AS pair,
    cityHash64(number, 2) % 12 AS learner,
    cityHash64(number, 3) % 6 AS pano,
    cityHash64(number, 4) % 40 AS content,
    toInt64({NOW_MS}) - intDiv(number, 3) * toInt64({400 * DAY // (N // 3)}) AS occ_ms
SELECT
    concat('ev-', leftPad(toString(number), 5, '0')),
    fromUnixTimestamp64Milli(occ_ms, 'UTC'),
    types[pair + 1],
    sources[pair + 1],
    concat('u-', toString(learner)),
    lowerUTF8(concat('Learner.', toString(learner), '@Example.com')),
    if(pano = 0, '', concat('p-', toString(pano))),
    if(pano = 0, '', if(number % 2 = 0, concat('Panorama ', toString(pano), ', Inc.'),
        concat('PANORAMA ', toString(pano), ', INC.'))),
    concat('c-', toString(content)),
    ['course', 'Video', 'webinar'][content % 3 + 1],
    concat('Title ', toString(number)),
    if(content % 7 = 0, '', concat('g-', toString(content % 6))),
    '', '',
    fromUnixTimestamp64Milli(occ_ms + 500, 'UTC'),
    't', 0, toInt64(number)
FROM numbers({N})
"""


def traps(table: str) -> list[str]:
    """D1: losing copies re-pointed to the filtered values (1 in 12 events, a day later); D2:
    winning copies of u-3's and c-7's events re-pointed to u-4 / c-8 / p-4 / g-4 (a second earlier)."""
    return [
        f"""INSERT INTO {table} ({COLUMNS})
SELECT event_id, occurred_at, 'enrollment', 'sso', 'u-3', 'learner.3@example.com', 'p-2', 'Panorama 2, Inc.',
    'c-7', 'course', content_title, 'g-2', actor_id, actor_email, ingested_at + INTERVAL 1 DAY, kafka_topic,
    kafka_partition, kafka_offset
FROM {table} WHERE learner_id != 'u-3' AND content_id != 'c-7' AND cityHash64(event_id) % 12 = 0""",
        f"""INSERT INTO {table} ({COLUMNS})
SELECT event_id, occurred_at, action_type, source, 'u-4', 'learner.4@example.com', 'p-4', 'Panorama 4, Inc.',
    'c-8', content_type, content_title, 'g-4', actor_id, actor_email, ingested_at - INTERVAL 1 SECOND,
    kafka_topic, kafka_partition, kafka_offset
FROM {table} WHERE (learner_id = 'u-3' OR content_id = 'c-7') AND cityHash64(event_id) % 4 = 0""",
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    path = tmp_path_factory.mktemp("narrowing") / "chdb"
    s = ClickHouseStore(ClickHouseSettings(url=f"chdb://{path}")).connect()
    try:
        ensure_log_schema(s, s.settings.database, s.settings.table)
        s.command(generate(s.log_table))
        for trap in traps(s.log_table):
            s.command(trap)
        parts = s.query_rows(
            "SELECT count() FROM system.parts WHERE active AND database = {db:String} AND table = {t:String}",
            {"db": s.settings.database, "t": s.settings.table},
        )
        assert int(parts[0][0]) > 14  # unmerged: the traps sit in parts of their own
        yield s
    finally:
        s.close()


ALL_TIME = {"from": ["1990-01-01"], "to": ["2100-01-01"]}
SHAPES: dict[str, dict[str, list[str]]] = {
    "learner id": {"learner": ["u-3"]},
    "learner email, other case": {"learner": ["LEARNER.3@EXAMPLE.COM"]},
    "two learners": {"learner": ["u-3", "learner.5@example.com"]},
    "content": {"content": ["c-7"]},
    "two contents": {"content": ["c-7", "c-9"]},
    "course group": {"course-group": ["g-2"]},
    "panorama id": {"panorama": ["p-2"]},
    "panorama name, any case": {"panorama": ["panorama 2, INC."]},
    "type and source": {"type": ["enrollment"], "source": ["sso"]},
    "types and sources": {"type": ["enrollment", "status_change"], "source": ["sso", "course_completed"]},
    "type only": {"type": ["certificate_grant"]},
    "content type only": {"content-type": ["VIDEO"]},
    "no filter": {},
    "learner and type": {"learner": ["u-3"], "type": ["enrollment"]},
    "content and panorama": {"content": ["c-7"], "panorama": ["p-2"]},
    "learner and content": {"learner": ["u-3"], "content": ["c-7"]},
    "learner and content, none": {"learner": ["u-3"], "content": ["c-nothing"]},
    "group, type, content type": {"course-group": ["g-2"], "type": ["enrollment"], "content-type": ["course"]},
    "learner and panorama name": {"learner": ["u-3"], "panorama": ["PANORAMA 4, inc."]},
    "missing learner": {"learner": ["u-nobody"]},
    "learner within 40 days": {"learner": ["u-3"], "from": ["2000-01-01"], "to": ["2100-01-01"]},
}
SCOPES = {"admin": Scope.everything(), "p-2": Scope.of({"p-2"}), "p-3 p-4": Scope.of({"p-3", "p-4"})}
#: Every shape as an admin; some as clients of one or two panoramas.
CASES = [(shape, "admin") for shape in SHAPES] + [
    (shape, scope)
    for shape in ("learner id", "panorama name, any case", "type and source", "no filter", "learner and content")
    for scope in ("p-2", "p-3 p-4")
]


def filters_of(shape: str, fmt: str = "ndjson", limit: int | None = None) -> Any:
    params = {**ALL_TIME, **SHAPES[shape], "format": [fmt]}
    if shape.endswith("within 40 days"):
        first = datetime.fromtimestamp((NOW_MS - 40 * DAY) / 1000, tz=UTC).isoformat()
        params["from"] = [first]
    if limit is not None:
        params["limit"] = [str(limit)]
    return parse_report_params(params, now=datetime.now(UTC))


def plain(store: ClickHouseStore, filters: Any, scope: Scope) -> bytes:
    """The oracle: one plain statement, no narrowing."""
    s = store.settings
    q = build_report_query(filters, database=s.database, table=s.table, scope=scope)
    return b"".join(framed(read_all(store, q.sql, q.params, clickhouse_format(filters.fmt)), Framer(filters.fmt)))


def lines(body: bytes) -> list[bytes]:
    return body.splitlines()


@pytest.mark.parametrize(("shape", "scope"), CASES)
def test_the_same_rows_as_the_plain_statement(store: ClickHouseStore, shape: str, scope: str) -> None:
    who = SCOPES[scope]
    rec = Recording(store)  # type: ignore[arg-type]
    want = plain(store, filters_of(shape), who)
    if shape in ("learner id", "content", "panorama id", "no filter") and scope == "admin":
        assert len(lines(want)) > 100  # the oracle has something to compare with
    # The whole report (the CLI, HTTP without paging, downloads).
    assert b"".join(report_chunks(rec, filters_of(shape), who)) == want  # type: ignore[arg-type]
    # A limited report, as `actionlog report --limit` runs it.
    for limit in (1, 23):
        got = b"".join(report_chunks(rec, filters_of(shape, limit=limit), who))  # type: ignore[arg-type]
        assert lines(got) == lines(want)[:limit], limit
    # Pages followed from the first, as the report page does.
    size = 37 if len(lines(want)) < 1000 else 499
    seen: list[bytes] = []
    cursor = None
    for _ in range(200):
        page = open_page(rec, filters_of(shape, limit=size), who, size, cursor)  # type: ignore[arg-type]
        body = b"".join(page.chunks)
        assert len(lines(body)) == size or page.next_cursor is None
        seen += lines(body)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == lines(want)
    # The count.
    s = store.settings
    q = build_count_query(filters_of(shape), database=s.database, table=s.table, scope=who)
    assert count_rows(rec, filters_of(shape), who) == int(store.query_rows(q.sql, q.params)[0][0]) == len(seen)  # type: ignore[arg-type]
    for st in rec.statements:  # the limits of every report statement (issue 11), these too
        assert "readonly = 1" in st.sql.rsplit("SETTINGS", 1)[-1], st.sql
    if who.limited:
        scoped = "has({scope_panoramas:Array(String)}, panorama_id)"
        unscoped = [st.sql for st in rec.statements if scoped not in st.sql]
        assert not unscoped, unscoped[0]
        # A candidates statement of the filter keys is scoped in each of its reads of them.
        for st in rec.statements:
            assert st.sql.count(scoped) >= st.sql.count("_filter_keys"), st.sql


def test_the_traps_are_there(store: ClickHouseStore) -> None:
    """The duplicates the comparison must see through exist, unmerged, on both sides of FINAL."""
    table = store.log_table
    raw = store.query_rows(f"SELECT count() FROM {table} WHERE learner_id = 'u-3'")[0][0]
    final = store.query_rows(f"SELECT count() FROM {table} FINAL WHERE learner_id = 'u-3'")[0][0]
    assert int(raw) > int(final) + 100  # D1 copies that must lose, and D2 copies u-3 loses to
    keys_table = qualified(store.settings.database, f"{store.settings.table}_{FILTER_KEYS}")
    keys = store.query_rows(f"SELECT count() FROM {keys_table} WHERE k = 'l:u-3'")[0][0]
    assert int(keys) == int(raw)  # every copy has its keys
