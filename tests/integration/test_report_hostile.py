"""Hostile filter values are data: they match exactly the rows that hold them, or nothing, and harm nothing.

A fresh embedded store holds a few ordinary rows and one "bait" row per hostile value, whose panorama
name, learner id, content id, course group and content type *are* that value. Every hostile value,
given to any free-text filter, must find exactly its bait row (values that no row holds: nothing),
through the in-process API, the worker's HTTP endpoint (a NUL travels there as ``%00``) and the CLI.
The SQL text never depends on a value, and the table is intact afterwards.

A NUL cannot be passed in argv at all (the OS strings are NUL-terminated), so the CLI is checked with
the literal text ``%00`` instead: it is data too, never URL-decoded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from actionlog.core.errors import BadParameter
from actionlog.core.scope import Scope
from actionlog.core.settings import ClickHouseSettings
from actionlog.query.filters import MULTI_KEYS, parse_report_params
from actionlog.query.report import report_chunks
from actionlog.query.sql import build_count_query, build_report_query
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.schema import DIMENSIONS, FILTER_KEYS
from actionlog.web.reports import REPORT_PATH
from testkit.rows import land
from testkit.served import Served, ServedStore

EVERYTHING = Scope.everything()

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OCCURRED_MS = 1_794_000_000_000  # 2026-11-07, inside the range below
RANGE = {"from": ["2026-11-01"], "to": ["2026-11-30"]}
FREE_TEXT = ("panorama", "learner", "content", "course-group", "content-type")
CSV_HEADER = b"Email,Panorama Name,Content Type,Content Title,Type,Source,Timestamp\r\n"

# Each one is stored in a bait row: a filter with it must find exactly that row.
BAIT = [
    "O'Brien",
    'say "hi"',
    "back\\slash\\",
    "mixed 'single' \"double\" \\ \\\\ \\' \\\" end",
    "'; DROP TABLE actionlog.content_actions_log; --",
    "{name:String}",
    "{start_ms:Int64}",
    "{panoramas:Array(String)}",
    "nul\x00byte",
    "L" * 10_000,
    "مدرسة 🎓 \u202eevil\u202c שלום",
    "%00",
    "%27%20OR%201%3D1",
]
# No row holds any of these: they must find nothing, whatever the flag.
MISS = [
    "' OR '1'='1",
    "') OR 1=1 OR ('",
    "\\' OR 1=1 --",
    "\\",
    '"',
    "Acme Academy ",  # an existing panorama name plus a trailing space
    " Acme Academy",
    "course ",
    "nul\x00",
    "nul",
    "L" * 10_001,
    "%",
    "_",
    "*",
    "🎓",
]


def label(value: str) -> str:
    return repr(value if len(value) < 40 else f"{value[:8]}…x{len(value)}")


def bait_row(i: int, value: str) -> dict[str, Any]:
    return {
        "event_id": f"bait-{i:02d}",
        "occurred_at": OCCURRED_MS + i,
        "action_type": "enrollment",
        "source": "sso",
        "learner_id": value,
        "email": f"bait{i}@example.com",
        "panorama_id": f"ph-{i}",
        "panorama_name": value,
        "content_id": value,
        "content_type": value.lower(),  # ingest lower-cases content types
        "content_title": f"bait-{i:02d}",
        "course_group_id": value,
    }


def plain_row(i: int) -> dict[str, Any]:
    return {
        "event_id": f"plain-{i}",
        "occurred_at": OCCURRED_MS + 100 + i,
        "action_type": "status_change",
        "source": "course_completed",
        "learner_id": f"u-{i}",
        "email": f"plain{i}@example.com",
        "panorama_id": "p-1",
        "panorama_name": "Acme Academy",
        "content_id": f"c-{i}",
        "content_type": "course",
        "content_title": f"plain-{i}",
        "course_group_id": "g-1",
    }


ROWS = [bait_row(i, v) for i, v in enumerate(BAIT)] + [plain_row(i) for i in range(5)]
ACCESS_TABLES = {"tokens", "sessions", "access_log"}  # made by the served store (a worker makes them)
TABLES = sorted(
    [
        "content_actions_log",
        "content_actions_log_dedup",
        *(f"content_actions_log_{d}{mv}" for d in (*DIMENSIONS, FILTER_KEYS) for mv in ("", "_mv")),
    ]
)


def params_of(flag: str, values: Sequence[str], fmt: str = "json") -> dict[str, list[str]]:
    return {**RANGE, flag: list(values), "format": [fmt]}


class Lab:
    def __init__(self, path: Path) -> None:
        self.settings = ClickHouseSettings(url=f"chdb://{path}")
        self._store: ClickHouseStore | None = None

    def store(self) -> ClickHouseStore:
        if self._store is None:
            self._store = ClickHouseStore(self.settings).connect()
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def report(self, params: Mapping[str, Sequence[str]]) -> bytes:
        filters = parse_report_params({k: list(v) for k, v in params.items()}, now=NOW)
        return b"".join(report_chunks(self.store(), filters, Scope.everything()))

    def titles(self, params: Mapping[str, Sequence[str]]) -> list[str]:
        return [row["content_title"] for row in json.loads(self.report(params))]

    def assert_intact(self) -> None:
        store = self.store()
        assert store.query_rows("SELECT count() FROM actionlog.content_actions_log") == [(len(ROWS),)]
        names = store.query_rows("SELECT name FROM system.tables WHERE database = 'actionlog' ORDER BY name")
        assert [n for (n,) in names if n not in ACCESS_TABLES] == TABLES
        stored = store.query_rows("SELECT panorama_name FROM actionlog.content_actions_log ORDER BY event_id")
        assert [n for (n,) in stored] == [r["panorama_name"] for r in sorted(ROWS, key=lambda r: r["event_id"])]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    assert len({v.lower() for v in BAIT}) == len(BAIT)  # each bait is its own row, for every flag
    lab = Lab(tmp_path_factory.mktemp("hostile") / "chdb")
    land(lab.store(), ROWS)
    try:
        yield lab
        lab.assert_intact()
    finally:
        lab.close()


def bait_title(value: str) -> str:
    return f"bait-{BAIT.index(value):02d}"


# ---------------------------------------------------------------- the SQL text


@pytest.mark.parametrize("flag", FREE_TEXT)
@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_the_sql_text_never_holds_a_value(flag: str, fmt: str) -> None:
    field = MULTI_KEYS[flag]
    benign = parse_report_params(params_of(flag, ["benign"], fmt), now=NOW)
    benign_sql = build_report_query(benign, database="actionlog", scope=EVERYTHING, table="content_actions_log").sql
    benign_count = build_count_query(benign, database="actionlog", scope=EVERYTHING, table="content_actions_log").sql
    for value in BAIT + MISS:
        filters = parse_report_params(params_of(flag, [value], fmt), now=NOW)
        query = build_report_query(filters, database="actionlog", scope=EVERYTHING, table="content_actions_log")
        assert query.sql == benign_sql, label(value)  # the text does not depend on the value at all
        assert value not in query.sql or value in benign_sql  # only where our own text has it: {start_ms:Int64}
        assert query.params[field] == [value]  # the value travels as a parameter, byte for byte
        count = build_count_query(filters, database="actionlog", scope=EVERYTHING, table="content_actions_log")
        assert count.sql == benign_count and count.params[field] == [value]


# ---------------------------------------------------------------- in process


@pytest.mark.parametrize("flag", FREE_TEXT)
@pytest.mark.parametrize("value", BAIT, ids=label)
def test_a_bait_value_finds_exactly_its_row(lab: Lab, flag: str, value: str) -> None:
    rows = json.loads(lab.report(params_of(flag, [value])))
    assert [r["content_title"] for r in rows] == [bait_title(value)]
    if flag == "panorama":
        assert rows[0]["panorama_name"] == value  # quotes, backslashes and NUL came back unchanged


@pytest.mark.parametrize("flag", FREE_TEXT)
def test_other_values_find_nothing(lab: Lab, flag: str) -> None:
    for value in MISS:
        assert lab.report(params_of(flag, [value])) == b"[]\n", label(value)
    assert lab.report(params_of(flag, MISS, "csv")) == CSV_HEADER
    lab.assert_intact()


@pytest.mark.parametrize("flag", FREE_TEXT)
def test_all_of_them_at_once_are_or_ed(lab: Lab, flag: str) -> None:
    assert sorted(lab.titles(params_of(flag, BAIT + MISS))) == sorted(bait_title(v) for v in BAIT)


def test_the_case_folding_filters_fold_hostile_values_too(lab: Lab) -> None:
    for value in BAIT:
        assert lab.titles(params_of("panorama", [value.upper()])) == [bait_title(value)], label(value)
        assert lab.titles(params_of("content-type", [value.upper()])) == [bait_title(value)], label(value)
    assert lab.titles(params_of("content", ["{NAME:STRING}"])) == []  # ids are exact


def test_a_trailing_space_is_part_of_the_value(lab: Lab) -> None:
    assert lab.titles(params_of("panorama", ["Acme Academy"])) == [f"plain-{i}" for i in reversed(range(5))]
    assert lab.titles(params_of("panorama", ["Acme Academy "])) == []
    assert lab.titles(params_of("content-type", ["COURSE"])) == [f"plain-{i}" for i in reversed(range(5))]
    assert lab.titles(params_of("content-type", ["course "])) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("type", "enrollment'; DROP TABLE actionlog.content_actions_log; --"),
        ("type", "{name:String}"),
        ("source", "sso\x00"),
        ("source", "sso' OR '1'='1"),
        ("from", "2026-11-01'; --"),
        ("to", "{end_ms:Int64}"),
        ("tz", "UTC'); DROP TABLE x; --"),
        ("tz", "../../etc/passwd"),
        ("format", "csv; DROP"),
        ("limit", "1; DROP"),
        ("csv-formula-guard", "true'"),
    ],
)
def test_hostile_values_of_checked_parameters_are_bad_parameters(lab: Lab, key: str, value: str) -> None:
    with pytest.raises(BadParameter) as info:
        parse_report_params({**RANGE, key: [value]}, now=NOW)
    assert info.value.param == key
    lab.assert_intact()


def test_a_hostile_parameter_name_is_refused() -> None:
    with pytest.raises(BadParameter, match="unknown parameter"):
        parse_report_params({**RANGE, "panorama'; DROP TABLE x; --": ["a"]}, now=NOW)


# ---------------------------------------------------------------- over HTTP


@pytest.fixture
def base_url(lab: Lab) -> Iterator[Served]:
    lab.close()  # the served store holds it now
    with ServedStore(lab.settings) as held:
        yield held


def get(served: Served, params: Mapping[str, Sequence[str]]) -> tuple[int, bytes]:
    query = urllib.parse.urlencode([(k, v) for k, vs in params.items() for v in vs])
    request = urllib.request.Request(
        f"{served.url}{REPORT_PATH}?{query}", headers={"Authorization": f"Bearer {served.token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_over_http_a_nul_and_other_baits_find_exactly_their_rows(lab: Lab, base_url: Served) -> None:
    short = [v for v in BAIT if len(v) < 1000]
    for flag in FREE_TEXT:
        for value in short:
            status, body = get(base_url, params_of(flag, [value], "ndjson"))
            assert status == 200, body
            rows = [json.loads(line) for line in body.splitlines()]
            assert [r["content_title"] for r in rows] == [bait_title(value)], (flag, label(value))
    query = urllib.parse.urlencode({"from": "2026-11-01", "to": "2026-11-30", "panorama": "nul\x00byte"})
    assert "panorama=nul%00byte" in query  # the NUL really travels as %00
    status, body = get(base_url, params_of("panorama", ["nul\x00byte"], "csv"))
    assert (status, body) == (200, lab.report(params_of("panorama", ["nul\x00byte"], "csv")))
    assert body.count(b"\r\n") == 2 and b"nul\x00byte" in body


def test_over_http_other_values_find_nothing(lab: Lab, base_url: Served) -> None:
    short = [v for v in MISS if len(v) < 1000]
    for flag in FREE_TEXT:
        assert get(base_url, params_of(flag, short, "csv")) == (200, CSV_HEADER)
        for value in short:
            assert get(base_url, params_of(flag, [value])) == (200, b"[]\n"), (flag, label(value))
    lab.assert_intact()


def test_over_http_hostile_checked_values_are_400_naming_the_parameter(base_url: Served) -> None:
    for key, value in [("type", "x' OR 1=1 --"), ("source", "sso\x00"), ("tz", "UTC'"), ("from", "{start_ms:Int64}")]:
        status, body = get(base_url, {**RANGE, key: [value]})
        assert status == 400
        answer = json.loads(body)
        assert answer["error"] == "bad_parameter" and answer["param"] == key


def test_over_http_a_10000_character_value_finds_its_row(lab: Lab, base_url: Served) -> None:
    value = "L" * 10_000
    status, body = get(base_url, params_of("panorama", [value]))
    assert status == 200, body[:200]
    assert [r["content_title"] for r in json.loads(body)] == [bait_title(value)]


# ---------------------------------------------------------------- the CLI (store closed: it opens the path)


def run_cli(lab: Lab, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "CLICKHOUSE_URL": lab.settings.url}
    return subprocess.run(
        [sys.executable, "-m", "actionlog", "report", "--from", "2026-11-01", "--to", "2026-11-30", *args],
        env=env,
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_the_cli_treats_hostile_values_as_data(lab: Lab, tmp_path: Path) -> None:
    argv_safe = [v for v in BAIT if "\x00" not in v]
    all_baits = [f"--panorama={v}" for v in argv_safe] + ["--format", "json"]
    misses = [f"--learner={v}" for v in MISS if "\x00" not in v]
    want_all = lab.report({**RANGE, "panorama": argv_safe, "format": ["json"]})
    want_pct = lab.report({**RANGE, "content": ["%00"], "format": ["json"]})
    lab.close()

    with pytest.raises(ValueError, match="null byte"):  # a NUL cannot even be put in argv
        run_cli(lab, tmp_path, "--panorama=nul\x00byte")

    res = run_cli(lab, tmp_path, *all_baits)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == want_all
    assert sorted(r["content_title"] for r in json.loads(res.stdout)) == sorted(bait_title(v) for v in argv_safe)

    res = run_cli(lab, tmp_path, "--content=%00", "--format", "json")  # literal, never URL-decoded
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == want_pct
    assert [r["content_title"] for r in json.loads(res.stdout)] == [bait_title("%00")]  # not the NUL row

    res = run_cli(lab, tmp_path, *misses)
    assert (res.returncode, res.stdout, res.stderr) == (0, CSV_HEADER, b"")

    res = run_cli(lab, tmp_path, "--source=sso'; DROP TABLE actionlog.content_actions_log; --")
    assert res.returncode == 2 and res.stdout == b""
    assert res.stderr.decode().count("\n") == 1 and "--source" in res.stderr.decode()
    lab.assert_intact()
