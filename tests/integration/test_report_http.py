"""The report over the worker's HTTP endpoint (CONTRACT §5), and the CLI going through it.

This process lands rows in a fresh embedded store and keeps it open, serves the worker's aiohttp app
(``build_http_app`` + ``HttpServer``) from a thread with its own event loop, and publishes the
endpoint file like a worker does. ``actionlog report`` run as a subprocess with the same
``CLICKHOUSE_URL`` then cannot open the store itself and must fetch through HTTP: its stdout has to
be byte-identical to the HTTP body and to the in-process ``report_chunks`` body.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import random
import re
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from actionlog.core.catalog import SOURCES_BY_TYPE
from actionlog.core.scope import Scope
from actionlog.core.settings import ClickHouseSettings
from actionlog.query.filters import parse_report_params
from actionlog.query.report import report_chunks
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.web.reports import REPORT_PATH
from testkit.rows import land
from testkit.served import ServedStore

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, tzinfo=UTC)
N_ROWS = 12_000
PARIS = ZoneInfo("Europe/Paris")
PAIRS = [(t, s) for t, sources in SOURCES_BY_TYPE.items() for s in sources]
CONTENT_TYPES = ["course", "video", "webinar"]
GROUPS = ["", "g-1", "g-2"]
MIME = {"csv": "text/csv; charset=utf-8", "json": "application/json", "ndjson": "application/x-ndjson"}
FILTERS = {
    "from": ["2026-10-01"],
    "to": ["2026-10-31"],
    "type": ["enrollment", "revoked-access"],
    "content-type": ["VIDEO"],
    "course-group": ["g-1"],
    "tz": ["Europe/Paris"],
    "limit": ["50"],
}


@dataclass(frozen=True)
class Row:
    event_id: str
    occurred_ms: int
    action_type: str
    source: str
    content_type: str
    course_group_id: str
    title: str


def generate() -> list[Row]:
    rng = random.Random(4242)
    start = int(datetime(2026, 9, 25, tzinfo=UTC).timestamp() * 1000)
    rows = []
    for i in range(N_ROWS):
        action_type, source = rng.choice(PAIRS)
        # ~100-character titles with CSV traps: the body is a few MiB, more than one 1 MiB chunk.
        title = f'Lesson {i}, "part" {rng.randrange(9)}\n' + "".join(rng.choices("abcdé漢🙂 ", k=90))
        rows.append(
            Row(
                event_id=f"e{rng.getrandbits(48):012x}",
                occurred_ms=start + rng.randrange(50 * 86_400_000),
                action_type=action_type,
                source=source,
                content_type=rng.choice(CONTENT_TYPES),
                course_group_id=rng.choice(GROUPS),
                title=title,
            )
        )
    return rows


ROWS = generate()


def expected_titles(params: Mapping[str, Sequence[str]]) -> list[str]:
    """The rows the report must hold, filtered and ordered here (the filters FILTERS uses only)."""
    zone = ZoneInfo(params["tz"][0])
    first = datetime.combine(date.fromisoformat(params["from"][0]), datetime.min.time(), zone)
    last = datetime.combine(date.fromisoformat(params["to"][0]) + timedelta(days=1), datetime.min.time(), zone)
    lo, hi = int(first.timestamp() * 1000), int(last.timestamp() * 1000)
    types = {t.replace("-", "_") for t in params.get("type", [])}
    ctypes = {c.lower() for c in params.get("content-type", [])}
    groups = set(params.get("course-group", []))
    kept = [
        r
        for r in ROWS
        if lo <= r.occurred_ms < hi
        and (not types or r.action_type in types)
        and (not ctypes or r.content_type in ctypes)
        and (not groups or r.course_group_id in groups)
    ]
    kept.sort(key=lambda r: (-r.occurred_ms, r.event_id))
    limit = int(params["limit"][0]) if "limit" in params else None
    return [r.title for r in kept[:limit]]


@dataclass
class Worker:
    store: ClickHouseStore
    url: str
    token: str
    settings: ClickHouseSettings
    tmp: Path

    def report(self, params: Mapping[str, Sequence[str]]) -> bytes:
        filters = parse_report_params({k: list(v) for k, v in params.items()}, now=NOW)
        return b"".join(report_chunks(self.store, filters, Scope.everything()))

    def get(self, params: Mapping[str, Sequence[str]]) -> http.client.HTTPResponse:
        u = urllib.parse.urlsplit(self.url)
        conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=60)
        query = urllib.parse.urlencode([(k, v) for k, vs in params.items() for v in vs])
        conn.request("GET", f"{REPORT_PATH}?{query}", headers={"Authorization": f"Bearer {self.token}"})
        return conn.getresponse()

    def cli(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "actionlog", "report", *args],
            env={**os.environ, "CLICKHOUSE_URL": self.settings.url},
            capture_output=True,
            timeout=120,
            cwd=self.tmp,
        )


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    tmp = tmp_path_factory.mktemp("http")
    settings = ClickHouseSettings(url=f"chdb://{tmp / 'chdb'}")
    with ServedStore(settings) as held:  # held the way a worker holds it: the CLI goes through it
        rows = [
            {
                "event_id": r.event_id,
                "occurred_at": r.occurred_ms,
                "action_type": r.action_type,
                "source": r.source,
                "content_type": r.content_type,
                "content_title": r.title,
                "course_group_id": r.course_group_id,
            }
            for r in ROWS
        ]
        land(held.store, rows)
        yield Worker(held.store, held.url, held.token, settings, tmp)


def test_the_filters_select_a_real_subset() -> None:
    unlimited = {k: v for k, v in FILTERS.items() if k != "limit"}
    assert len(expected_titles(unlimited)) > 50
    assert len(expected_titles(FILTERS)) == 50
    assert len(expected_titles({**unlimited, "type": ["certificate_grant"]})) > 0


def rows_of(fmt: str, body: bytes) -> list[str]:
    """Titles of a body, parsed with the standard library."""
    if fmt == "json":
        return [r["content_title"] for r in json.loads(body)]
    if fmt == "ndjson":
        return [json.loads(line)["content_title"] for line in body.split(b"\n")[:-1]]
    parsed = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert parsed[0] == ["Email", "Panorama Name", "Content Type", "Content Title", "Type", "Source", "Timestamp"]
    return [r[3] for r in parsed[1:]]


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_http_body_headers_and_the_cli_through_the_worker(worker: Worker, fmt: str) -> None:
    params = {**FILTERS, "format": [fmt]}
    response = worker.get(params)
    body = response.read()
    assert response.status == 200
    assert response.getheader("Content-Type") == MIME[fmt]
    assert response.getheader("Content-Disposition") == (
        f'attachment; filename="content-actions-log_2026-10-01_2026-10-31.{fmt}"'
    )
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Length") is None
    assert rows_of(fmt, body) == expected_titles(params)
    assert body == worker.report(params)

    args = [f"--{k}={v}" for k, vs in params.items() for v in vs]
    res = worker.cli(*args)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stderr == b""
    assert res.stdout == body


def test_the_cli_through_the_worker_writes_the_same_file(worker: Worker) -> None:
    params = {"from": ["2026-10-25"], "to": ["2026-11-02"], "format": ["ndjson"], "type": ["status_change"]}
    out = worker.tmp / "via-worker.ndjson"
    res = worker.cli(*[f"--{k}={v}" for k, vs in params.items() for v in vs], "--output", str(out))
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == b""
    body = out.read_bytes()
    assert body == worker.get(params).read() == worker.report(params)
    assert len(body.split(b"\n")) - 1 == len(expected_titles({**params, "tz": ["UTC"]})) > 100


def raw_get(url: str, target: str, token: str) -> tuple[bytes, list[bytes]]:
    """GET over a bare socket; return the header block and the chunks of the chunked body."""
    u = urllib.parse.urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=60) as sock:
        auth = f"Authorization: Bearer {token}\r\n"
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n".encode())
        data = b""
        while part := sock.recv(1 << 16):
            data += part
    head, _, rest = data.partition(b"\r\n\r\n")
    chunks = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            assert rest == b"\r\n"  # the terminating chunk: the body is complete
            return head, chunks
        chunks.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        rest = rest[size + 2 :]


def test_a_big_body_is_streamed_in_several_chunks(worker: Worker) -> None:
    params = {"from": ["2026-09-01"], "to": ["2026-12-31"], "format": ["csv"]}
    head, chunks = raw_get(worker.url, f"{REPORT_PATH}?{urllib.parse.urlencode(params, doseq=True)}", worker.token)
    assert head.startswith(b"HTTP/1.1 200")
    assert b"\r\nTransfer-Encoding: chunked" in head
    body = b"".join(chunks)
    assert len(body) > 2 << 20 and len(chunks) >= 2
    assert body == worker.report(params)
    assert len(rows_of("csv", body)) == N_ROWS


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"from": "2026-10-01", "to": "2026-10-31", "fmt": "csv"}, "content-actions-log_2026-10-01_2026-10-31.csv"),
        (  # an exclusive RFC 3339 end at a local midnight: the last day is the one before
            {"from": "2026-10-01", "to": "2026-11-01T00:00:00+01:00", "tz": "Europe/Paris", "fmt": "json"},
            "content-actions-log_2026-10-01_2026-10-31.json",
        ),
        (  # the same instants seen from New York
            {"from": "2026-10-01T00:00:00+02:00", "to": "2026-11-01T00:00:00+01:00", "tz": "America/New_York"},
            "content-actions-log_2026-09-30_2026-10-31.csv",
        ),
        (
            {"from": "2026-10-25", "to": "2026-10-25", "fmt": "ndjson"},
            "content-actions-log_2026-10-25_2026-10-25.ndjson",
        ),
    ],
)
def test_the_download_name(worker: Worker, params: dict[str, str], name: str) -> None:
    query = {("format" if k == "fmt" else k): [v] for k, v in params.items()}
    response = worker.get(query)
    response.read()
    assert response.status == 200
    disposition = response.getheader("Content-Disposition") or ""
    assert disposition == f'attachment; filename="{name}"'
    assert re.fullmatch(r'attachment; filename="[A-Za-z0-9._-]+"', disposition)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"type": ["nope"]}, "type"),
        ({"source": ["not-a-source"]}, "source"),
        ({"limit": ["0"]}, "limit"),
        ({"limit": ["ten"]}, "limit"),
        ({"from": ["2026-13-01"]}, "from"),
        ({"from": ["2026-11-02"], "to": ["2026-11-01"]}, "from"),
        ({"to": ["yesterday"]}, "to"),
        ({"format": ["xml"]}, "format"),
        ({"format": ["csv", "json"]}, "format"),
        ({"tz": ["Mars/Olympus_Mons"]}, "tz"),
        ({"colour": ["red"]}, "colour"),
        ({"panorama": [""]}, "panorama"),
        ({"csv-formula-guard": ["maybe"]}, "csv-formula-guard"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(worker: Worker, params: dict[str, list[str]], param: str) -> None:
    response = worker.get({"from": ["2026-10-01"], "to": ["2026-10-31"], **params})
    body = response.read()
    assert response.status == 400
    assert (response.getheader("Content-Type") or "").startswith("application/json")
    answer = json.loads(body)
    assert answer["error"] == "bad_parameter"
    assert answer["param"] == param
    assert isinstance(answer["message"], str) and param in answer["message"]


def test_the_cli_through_the_worker_takes_long_values(worker: Worker) -> None:
    res = worker.cli("--from=2026-10-01", "--to=2026-10-31", "--content-type=" + "é" * 2_000)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.startswith(b"Email,")
