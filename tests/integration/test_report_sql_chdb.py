"""The report SQL of query.sql run on the real embedded ClickHouse (chDB).

One chDB client for this module (chDB allows one open data path per process; it
is closed when the module is done), a fresh database per test, dropped afterwards.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import clickhouse_connect
import pytest

from actionlog.core.scope import Scope
from actionlog.query.filters import parse_report_params
from actionlog.query.framing import CSV_HEADER, Framer
from actionlog.query.sql import build_report_query, clickhouse_format
from actionlog.store.schema import INSERT_COLUMNS, log_table_ddl

EVERYTHING = Scope.everything()

pytestmark = pytest.mark.integration

TABLE = "content_actions_log"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
# The production DDL: the table these queries run on in real life.
COLUMNS = (*INSERT_COLUMNS[: INSERT_COLUMNS.index("course_group_id") + 1], "ingested_at")
KEYS = ("email", "panorama_name", "content_type", "content_title", "type", "source", "timestamp")


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def row(event_id: str, occurred_at: str, **kw: str) -> list[Any]:
    values = {
        "event_id": event_id,
        "occurred_at": ts(occurred_at),
        "action_type": "enrollment",
        "source": "sso",
        "learner_id": f"u-{event_id}",
        "email": f"{event_id}@example.com",
        "panorama_id": "",
        "panorama_name": "",
        "content_id": "c-1",
        "content_type": "course",
        "content_title": f"Title {event_id}",
        "course_group_id": "",
        "ingested_at": NOW,
    }
    values.update(kw)
    return [values[c] for c in COLUMNS]


ROWS = [
    row(
        "e1",
        "2026-11-03T13:05:06.123Z",
        email="=cmd@example.com",
        panorama_id="p-7",
        panorama_name="Acme Academy",
        content_title='Intro to "Safety", Part 1',
        course_group_id="g-9",
    ),
    row(
        "e2",
        "2026-11-03T13:05:06.123Z",
        action_type="status_change",
        source="course_completed",
        learner_id="u-1029",
        email="ada.lovelace@example.com",
        content_type="webinar",
        content_title='multi\nline,\r\n"title" é 漢字 🙂 a/b \x01 \u2028',
    ),
    row(
        "e3",
        "2026-11-02T08:00:00.000Z",
        panorama_id="p-8",
        panorama_name="Été Corp",
        content_id="c-2",
        content_type="video",
        content_title="+SUM(A1)",
        source="gift_course_purchase",
    ),
    row(
        "e4",
        "2026-10-15T00:00:00.001Z",
        action_type="revoked_access",
        source="course_deletion",
        content_title="-1",
        course_group_id="g-9",
    ),
    row(
        "e5",
        "2026-10-01T00:00:00.000Z",
        action_type="certificate_grant",
        source="public",
        email="@home@example.com",
        content_title="\tTabbed",
    ),
]


@pytest.fixture(scope="module")
def _chdb_client_for_sql_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # Module scope: created once (only this module uses it) and closed as soon as this
    # module is done, so that a later module may open chDB on a path of its own.
    client = clickhouse_connect.get_client(interface="chdb", path=str(tmp_path_factory.mktemp("chdb_sql")))
    yield client
    client.close()


@pytest.fixture
def client(_chdb_client_for_sql_tests: Any) -> Any:
    return _chdb_client_for_sql_tests


@pytest.fixture
def db(client: Any) -> Iterator[str]:
    name = f"sqltest_{uuid.uuid4().hex}"
    client.command(f"CREATE DATABASE `{name}`")
    client.command(log_table_ddl(name, TABLE))
    try:
        yield name
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{name}`")


def insert(client: Any, db: str, rows: Sequence[list[Any]]) -> None:
    client.insert(TABLE, list(rows), column_names=list(COLUMNS), database=db)


@pytest.fixture
def loaded(client: Any, db: str) -> str:
    insert(client, db, ROWS)
    insert(client, db, [ROWS[0], ROWS[2]])  # redelivered duplicates, in another part
    insert(client, db, [ROWS[0]])
    return db


def report(client: Any, db: str, params: Mapping[str, Sequence[str]]) -> bytes:
    filters = parse_report_params(params, now=NOW)
    query = build_report_query(filters, database=db, scope=EVERYTHING, table=TABLE)
    framer = Framer(filters.fmt)
    parts = [framer.start()]
    with client.raw_stream(query.sql, parameters=query.params, fmt=clickhouse_format(filters.fmt)) as stream:
        while chunk := stream.read(1 << 20):
            parts.append(framer.feed(chunk))
    parts.append(framer.finish())
    return b"".join(parts)


def report_json(client: Any, db: str, **params: str | list[str]) -> list[dict[str, str]]:
    mapping = {k.replace("_", "-"): [v] if isinstance(v, str) else v for k, v in params.items()}
    result: list[dict[str, str]] = json.loads(report(client, db, {"format": ["json"], **mapping}))
    return result


def ids(rows: list[dict[str, str]]) -> list[str]:
    """Event ids of report rows (the test data's titles are 'Title <id>' or known)."""
    titles = {r[COLUMNS.index("content_title")]: r[0] for r in ROWS}
    return [titles[r["content_title"]] for r in rows]


WIDE = {"from": "2026-01-01", "to": "2026-12-31"}


# ---------------------------------------------------------------- formats


def test_csv(client: Any, loaded: str) -> None:
    body = report(client, loaded, {"from": ["2026-01-01"], "to": ["2026-12-31"]})
    assert body.startswith(CSV_HEADER)
    assert body.endswith(b"\r\n")
    parsed = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert parsed[0] == ["Email", "Panorama Name", "Content Type", "Content Title", "Type", "Source", "Timestamp"]
    assert parsed[1:] == [
        [
            "'=cmd@example.com",
            "Acme Academy",
            "course",
            'Intro to "Safety", Part 1',
            "enrollment",
            "sso",
            "2026-11-03T13:05:06.123Z",
        ],
        [
            "ada.lovelace@example.com",
            "",
            "webinar",
            'multi\nline,\r\n"title" é 漢字 🙂 a/b \x01 \u2028',
            "status_change",
            "course_completed",
            "2026-11-03T13:05:06.123Z",
        ],
        [
            "e3@example.com",
            "Été Corp",
            "video",
            "'+SUM(A1)",
            "enrollment",
            "gift_course_purchase",
            "2026-11-02T08:00:00.000Z",
        ],
        ["e4@example.com", "", "course", "'-1", "revoked_access", "course_deletion", "2026-10-15T00:00:00.001Z"],
        ["'@home@example.com", "", "course", "'\tTabbed", "certificate_grant", "public", "2026-10-01T00:00:00.000Z"],
    ]


def test_csv_without_formula_guard(client: Any, loaded: str) -> None:
    body = report(client, loaded, {**{k: [v] for k, v in WIDE.items()}, "csv-formula-guard": ["false"]})
    parsed = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert [r[0] for r in parsed[1:]][::4] == ["=cmd@example.com", "@home@example.com"]
    assert [r[3] for r in parsed[1:]][2:] == ["+SUM(A1)", "-1", "\tTabbed"]


def test_json_and_ndjson(client: Any, loaded: str) -> None:
    body = report(client, loaded, {"format": ["json"], **{k: [v] for k, v in WIDE.items()}})
    assert body.startswith(b"[\n{") and body.endswith(b"}\n]\n")
    rows = json.loads(body)
    assert [list(r) for r in rows] == [list(KEYS)] * 5
    assert all(isinstance(v, str) for r in rows for v in r.values())
    assert rows[0]["email"] == "=cmd@example.com"  # no formula guard outside CSV
    assert rows[1]["content_title"] == 'multi\nline,\r\n"title" é 漢字 🙂 a/b \x01 \u2028'
    assert "é 漢字 🙂 a/b".encode() in body  # UTF-8, slashes not escaped
    assert b"\\u0001" in body
    ndjson = report(client, loaded, {"format": ["ndjson"], **{k: [v] for k, v in WIDE.items()}})
    assert ndjson.endswith(b"}\n")
    assert [json.loads(line) for line in ndjson.split(b"\n")[:-1]] == rows


@pytest.mark.parametrize(("fmt", "want"), [("csv", CSV_HEADER), ("json", b"[]\n"), ("ndjson", b"")])
def test_empty(client: Any, loaded: str, fmt: str, want: bytes) -> None:
    assert report(client, loaded, {"format": [fmt], "from": ["2025-01-01"], "to": ["2025-01-31"]}) == want


def test_duplicates_collapse_and_order_is_newest_first(client: Any, loaded: str) -> None:
    rows = report_json(client, loaded, **WIDE)
    assert ids(rows) == ["e1", "e2", "e3", "e4", "e5"]  # e1 == e2 in time: event_id ascending
    assert client.command(f"SELECT count() FROM `{loaded}`.`{TABLE}`") == 8  # duplicates are stored


def test_limit(client: Any, loaded: str) -> None:
    assert ids(report_json(client, loaded, limit="2", **WIDE)) == ["e1", "e2"]


def test_default_range_is_the_last_30_days(client: Any, loaded: str) -> None:
    assert ids(report_json(client, loaded)) == ["e1", "e2", "e3"]  # now = 2026-11-28 12:00Z


# ---------------------------------------------------------------- filters

FILTER_CASES = [
    ({"panorama": "p-7"}, ["e1"]),
    ({"panorama": "ACME academy"}, ["e1"]),
    ({"panorama": ["été corp", "p-7"]}, ["e1", "e3"]),
    ({"panorama": "acme"}, []),
    ({"learner": "u-1029"}, ["e2"]),
    ({"learner": "Ada.Lovelace@Example.COM"}, ["e2"]),
    ({"learner": ["=CMD@example.com", "u-e5"]}, ["e1", "e5"]),
    ({"content": "c-2"}, ["e3"]),
    ({"type": "status-change"}, ["e2"]),
    ({"type": ["revoked_access", "certificate_grant"]}, ["e4", "e5"]),
    ({"source": "Gift-Course-Purchase"}, ["e3"]),
    ({"course_group": "g-9"}, ["e1", "e4"]),
    ({"content_type": "WEBINAR"}, ["e2"]),
    ({"content_type": ["Video", "webinar"]}, ["e2", "e3"]),
    ({"course_group": "g-9", "type": "enrollment"}, ["e1"]),
    ({"course_group": "g-9", "type": "status_change"}, []),
]


@pytest.mark.parametrize(("filters", "want"), FILTER_CASES)
def test_filters(client: Any, loaded: str, filters: dict[str, str | list[str]], want: list[str]) -> None:
    assert ids(report_json(client, loaded, **WIDE, **filters)) == want


HOSTILE = [
    "'; DROP TABLE content_actions_log; --",
    "{panoramas:Array(String)}",
    "') OR 1=1 OR ('",
    "\\' OR 1=1 --",
    "back\\slash\\",
    "nul\x00byte",
    "` FINAL; DROP DATABASE x --",
    "x" * 10_000,
    "é漢字🙂\u2028",
    "%' OR '%'='",
]


@pytest.mark.parametrize("flag", ["panorama", "content", "learner", "course-group", "content-type"])
def test_hostile_values_match_nothing_and_harm_nothing(client: Any, loaded: str, flag: str) -> None:
    assert report_json(client, loaded, **WIDE, **{flag.replace("-", "_"): HOSTILE}) == []
    assert client.command(f"SELECT count() FROM `{loaded}`.`{TABLE}`") == 8
    assert len(report_json(client, loaded, **WIDE)) == 5


def test_hostile_value_stored_in_data_is_found_exactly(client: Any, db: str) -> None:
    insert(
        client,
        db,
        [
            row(f"h{i}", "2026-11-03T00:00:00Z", panorama_name=value, content_title=f"T{i}")
            for i, value in enumerate(HOSTILE)
        ],
    )
    for value in HOSTILE:
        rows = report_json(client, db, **WIDE, panorama=value)
        assert [r["panorama_name"] for r in rows] == [value]


# ---------------------------------------------------------------- dates and time zones


def test_whole_days_in_a_zone_across_dst(client: Any, db: str) -> None:
    edges = [
        "2026-03-28T22:59:59.999Z",
        "2026-03-28T23:00:00.000Z",
        "2026-03-29T21:59:59.999Z",
        "2026-03-29T22:00:00.000Z",
    ]
    insert(client, db, [row(f"d{i}", edge, content_title=f"D{i}") for i, edge in enumerate(edges)])
    rows = report_json(client, db, **{"from": "2026-03-29", "to": "2026-03-29", "tz": "Europe/Paris"})
    assert [r["content_title"] for r in rows] == ["D2", "D1"]
    assert [r["timestamp"] for r in rows] == ["2026-03-29T23:59:59.999+02:00", "2026-03-29T00:00:00.000+01:00"]
    rows = report_json(client, db, **{"from": "2026-03-28T23:00:00Z", "to": "2026-03-29T21:59:59.999Z"})
    assert [r["content_title"] for r in rows] == ["D1"]


INSTANTS = [
    *("2026-03-08T06:59:59.999Z", "2026-03-08T07:00:00.000Z"),  # New York spring forward
    *("2026-11-01T05:59:59.999Z", "2026-11-01T06:00:00.000Z"),  # New York fall back
    *("2026-03-29T00:59:59.999Z", "2026-03-29T01:00:00.000Z"),  # Paris spring forward
    *("2026-10-25T00:59:59.999Z", "2026-10-25T01:00:00.000Z"),  # Paris fall back
    *("2026-04-05T02:59:59.999Z", "2026-09-06T04:00:00.000Z"),  # Santiago
    *("2026-04-04T14:59:59.999Z", "2026-10-03T15:00:00.000Z"),  # Lord Howe (30-minute DST)
    *("1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00.000Z"),
    *("1900-01-01T00:00:00.000Z", "2299-12-30T23:59:59.999Z", "2026-11-03T13:05:06.120Z"),
]
ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "Etc/GMT+5",
    "GMT",
]


def expected_timestamp(instant: datetime, zone: str) -> str:
    if zone == "UTC":
        return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
    text = instant.astimezone(zoneinfo.ZoneInfo(zone)).isoformat(timespec="milliseconds")
    # Historical local mean time has offsets with seconds (Paris 1900: +00:09:21), which
    # RFC 3339 cannot write: the local time is exact and the offset is cut to minutes.
    return text[:-3] if text[-9] in "+-" else text


@pytest.mark.parametrize("zone", ZONES)
def test_timestamps_match_python_zoneinfo(client: Any, db: str, zone: str) -> None:
    insert(client, db, [row(f"i{i}", text, content_title=text) for i, text in enumerate(INSTANTS)])
    rows = report_json(client, db, **{"from": "1900-01-01T00:00:00Z", "to": "2299-12-31", "tz": zone})
    got = {r["content_title"]: r["timestamp"] for r in rows}
    assert got == {text: expected_timestamp(ts(text), zone) for text in INSTANTS}
    if zone == "UTC":
        assert got["2026-11-03T13:05:06.120Z"] == "2026-11-03T13:05:06.120Z"
    if zone == "Europe/Paris":
        assert got["2026-10-25T00:59:59.999Z"] == "2026-10-25T02:59:59.999+02:00"
        assert got["2026-10-25T01:00:00.000Z"] == "2026-10-25T02:00:00.000+01:00"
    if zone == "America/New_York":
        assert got["2026-03-08T07:00:00.000Z"] == "2026-03-08T03:00:00.000-04:00"


def test_csv_timestamps_in_a_zone(client: Any, loaded: str) -> None:
    body = report(client, loaded, {"tz": ["America/New_York"], "from": ["2026-11-03"], "to": ["2026-11-03"]})
    parsed = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert [r[6] for r in parsed[1:]] == ["2026-11-03T08:05:06.123-05:00"] * 2


def test_every_accepted_zone_is_known_to_clickhouse(client: Any) -> None:
    from actionlog.query.filters import parse_tz

    known = set(client.query("SELECT time_zone FROM system.time_zones").result_columns[0])
    accepted = {parse_tz(name) for name in zoneinfo.available_timezones() - {"localtime", "posixrules"}}
    assert accepted - known == set()


def test_the_statement_uses_the_primary_key(client: Any, loaded: str) -> None:
    filters = parse_report_params({"from": ["2026-11-03"], "to": ["2026-11-03"]}, now=NOW)
    query = build_report_query(filters, database=loaded, scope=EVERYTHING, table=TABLE)
    plan = client.raw_query("EXPLAIN indexes = 1 " + query.sql, parameters=query.params, fmt="TSV").decode()
    assert "PrimaryKey" in plan and "occurred_at" in plan.split("PrimaryKey", 1)[1]
    assert timedelta(0) < filters.end - filters.start
