"""``actionlog report --output FILE``: the file appears whole or not at all; progress only on stderr.

The CLI runs as a subprocess on an embedded store this process landed and closed. A failure before
the first row (the table does not exist) and one in the middle of the body (a worker endpoint that
cuts its chunked stream short after a few MiB, so the CLI has already written part of the temporary
file) must both leave no FILE and no temporary file, and leave an existing FILE as it was.

The last test lands 1,000,000 rows and measures the peak RSS of a CSV export of all of them.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from actionlog.core.settings import ClickHouseSettings
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.holder import StoreLock
from actionlog.store.schema import INSERT_COLUMNS, ensure_log_schema
from testkit.rows import land

pytestmark = pytest.mark.integration

HEADER = b"Email,Panorama Name,Content Type,Content Title,Type,Source,Timestamp\r\n"
N_SMALL = 2_000
BASE_MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z


def run(url: str, cwd: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "actionlog", "report", "--from", "1990-01-01", "--to", "2100-01-01", *args],
        env={**os.environ, "CLICKHOUSE_URL": url},
        capture_output=True,
        timeout=300,
        cwd=cwd,
        **kw,
    )


def small_rows() -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"e{n:05d}",
            "occurred_at": BASE_MS + n * 60_000,
            "action_type": "enrollment",
            "source": "sso",
            "learner_id": f"u-{n % 7}",
            "email": f"user{n % 7}@example.com",
            "panorama_id": "",
            "panorama_name": "",
            "content_id": "c-1",
            "content_type": "course",
            "content_title": f'Lesson {n}, "quoted"\nsecond line',
            "course_group_id": "",
            "actor_id": "",
            "actor_email": "",
            "kafka_topic": "t",
            "kafka_partition": 0,
            "kafka_offset": n,
        }
        for n in range(N_SMALL)
    ]


@pytest.fixture(scope="module")
def small_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    settings = ClickHouseSettings(url=f"chdb://{tmp_path_factory.mktemp('small') / 'chdb'}")
    rows = small_rows()
    with ClickHouseStore(settings).connect() as store:
        land(store, rows)
    return settings.url  # closed: the CLI opens it


def test_success_leaves_exactly_the_file(small_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    res = run(small_url, tmp_path, "--output", str(out / "report.csv"))
    assert res.returncode == 0, res.stderr.decode()
    assert (res.stdout, res.stderr) == (b"", b"")  # a short export says nothing
    assert sorted(os.listdir(out)) == ["report.csv"]
    body = (out / "report.csv").read_bytes()
    assert body.startswith(HEADER)
    rows = list(csv.reader(io.StringIO(body.decode(), newline="")))[1:]
    assert [r[3] for r in rows] == [f'Lesson {n}, "quoted"\nsecond line' for n in reversed(range(N_SMALL))]

    to_stdout = run(small_url, tmp_path)
    assert to_stdout.returncode == 0 and to_stdout.stderr == b""
    assert to_stdout.stdout == body  # the output itself, nothing added

    (out / "report.csv").write_bytes(b"old content")
    res = run(small_url, tmp_path, "--output", str(out / "report.csv"), "--limit", "3", "--format", "ndjson")
    assert res.returncode == 0, res.stderr.decode()
    assert sorted(os.listdir(out)) == ["report.csv"]
    assert (out / "report.csv").read_bytes().count(b"\n") == 3  # replaced whole


def test_a_missing_table_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    empty = f"chdb://{tmp_path / 'empty-chdb'}"
    res = run(empty, tmp_path, "--output", str(out / "report.csv"))
    assert res.returncode == 1
    assert res.stdout == b""
    assert res.stderr.decode().count("\n") == 1 and "does not exist" in res.stderr.decode()
    assert os.listdir(out) == []

    (out / "report.csv").write_bytes(b"previous report")
    assert run(empty, tmp_path, "--output", str(out / "report.csv")).returncode == 1
    assert os.listdir(out) == ["report.csv"]
    assert (out / "report.csv").read_bytes() == b"previous report"


LINE = b'"a@example.com","","course","t","enrollment","sso","2026-01-01T00:00:00.000Z"\r\n'
BLOCK = LINE * 3000  # ~240 KiB


class FakeWorker(BaseHTTPRequestHandler):
    """A 'worker' streaming every statement's output as `PARTS` (chunked), a pause between them,
    then `END` (the CLI frames it: header first)."""

    protocol_version = "HTTP/1.1"
    PARTS: ClassVar[Sequence[bytes]] = ()
    PAUSE = 0.0  # seconds between parts: how a slow store looks from the CLI
    END = b"0\r\n\r\n"

    def do_GET(self) -> None:  # /healthz: the liveness check of a local link
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, part in enumerate(self.PARTS):
            if i and self.PAUSE:
                time.sleep(self.PAUSE)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        self.wfile.write(self.END)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


class CutShort(FakeWorker):
    """~3 MiB of complete chunks (more than the CLI's first 1 MiB read: the temporary file exists by
    then), then a chunk that breaks off in the middle and a closed connection."""

    PARTS = (BLOCK,) * 12
    END = b"%x\r\n%s" % (len(BLOCK), BLOCK[:1000])


class Slow(FakeWorker):
    """A complete ~5 MiB body in three parts, a second apart: a long export (progress shows after 1 s).

    The last part arrives 2 s after the first, so the CLI shows progress as long as it starts
    counting less than a second after the first part reached it.
    """

    PARTS = (LINE * 20_000, LINE * 20_000, LINE * 20_000)
    PAUSE = 1.0


def serve_as_worker(handler: type[FakeWorker], data_dir: Path) -> Iterator[str]:
    """Hold ``data_dir`` the way a worker does and publish a link pointing at ``handler``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = ClickHouseSettings(url=f"chdb://{data_dir}")
    lock = StoreLock(settings.chdb_path)
    assert lock.try_acquire("fake worker")
    lock.publish(f"http://127.0.0.1:{server.server_address[1]}", "fake-key")
    try:
        yield settings.url
    finally:
        lock.withdraw()
        lock.release()
        server.shutdown()
        server.server_close()
        thread.join(30)


@pytest.fixture
def cut_short_worker(tmp_path: Path) -> Iterator[str]:
    yield from serve_as_worker(CutShort, tmp_path / "held-chdb")


@pytest.fixture
def slow_worker(tmp_path: Path) -> Iterator[str]:
    yield from serve_as_worker(Slow, tmp_path / "held-chdb")


def test_a_failure_midway_leaves_nothing(cut_short_worker: str, tmp_path: Path) -> None:
    assert len(BLOCK) * len(CutShort.PARTS) > 2 << 20
    out = tmp_path / "out"
    out.mkdir()
    res = run(cut_short_worker, tmp_path, "--output", str(out / "report.csv"))
    assert res.returncode == 1
    assert res.stdout == b""
    stderr = res.stderr.decode()
    assert "cut short" in stderr and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert os.listdir(out) == []

    (out / "report.csv").write_bytes(b"previous report")
    assert run(cut_short_worker, tmp_path, "--output", str(out / "report.csv")).returncode == 1
    assert os.listdir(out) == ["report.csv"]
    assert (out / "report.csv").read_bytes() == b"previous report"


def test_progress_of_a_long_export_goes_to_stderr_only(slow_worker: str, tmp_path: Path) -> None:
    body = HEADER + b"".join(Slow.PARTS)
    lines = body.count(b"\n")
    out = tmp_path / "out"
    out.mkdir()
    res = run(slow_worker, tmp_path, "--output", str(out / "report.csv"))
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == b""
    assert (out / "report.csv").read_bytes() == body
    assert sorted(os.listdir(out)) == ["report.csv"]
    progress = res.stderr.decode().replace("\r", "\n").split("\n")
    shown = [p for p in progress if p]
    assert shown[-1] == f"actionlog: ~{lines:,} lines written to {out / 'report.csv'}"
    assert all(re.fullmatch(r"actionlog: ~[0-9,]+ lines written", p) for p in shown[:-1])
    assert res.stderr.endswith(b"\n") and res.stderr.count(b"\n") == 1  # the running count rewrites one line

    to_stdout = run(slow_worker, tmp_path)
    assert to_stdout.returncode == 0
    assert to_stdout.stdout == body  # exactly the body
    assert to_stdout.stderr == b""  # no progress when stdout is the output


# ---------------------------------------------------------------- 1,000,000 rows

N_BIG = 1_000_000
BIG_INSERT = """
INSERT INTO actionlog.content_actions_log ({columns})
SELECT
    concat('evt-', leftPad(toString(number), 7, '0')),
    fromUnixTimestamp64Milli(toInt64({base} + number * 997), 'UTC'),
    'enrollment',
    'sso',
    concat('u-', toString(number % 5000)),
    concat('learner', toString(number % 5000), '@example.com'),
    concat('p-', toString(number % 20)),
    concat('Panorama ', toString(number % 20)),
    concat('c-', toString(number % 300)),
    'course',
    concat('Lesson ', toString(number), ', "part" ', toString(number % 9), ' of the safety course'),
    '',
    '', '', 't', 0, number
FROM numbers({n})
"""
# Runs a command and writes "<exit code> <peak RSS in KiB>" of it to argv[1]. Measuring from a fresh
# small process matters: a child spawned (vfork + exec) straight from this big pytest process
# reports *this* process's peak as its own ru_maxrss, as Linux carries it over the exec.
RSS_WRAPPER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""
MIB = 1024  # KiB


def iso_utc(ms: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def run_measured(args: Sequence[str], url: str, cwd: Path, stdout: Any) -> tuple[int, int, bytes, float]:
    """Run ``actionlog report ARGS``; return its exit code, peak RSS (KiB), stderr and seconds."""
    result, err_path = cwd / "rss.txt", cwd / "stderr.txt"
    cmd = [sys.executable, "-c", RSS_WRAPPER, str(result), sys.executable, "-m", "actionlog", "report", *args]
    started = time.monotonic()
    with open(err_path, "wb") as err:
        subprocess.run(cmd, env={**os.environ, "CLICKHOUSE_URL": url}, cwd=cwd, stdout=stdout, stderr=err, timeout=600)
    elapsed = time.monotonic() - started
    code, rss = (int(x) for x in result.read_text().split())
    return code, rss, err_path.read_bytes(), elapsed


def test_a_million_rows_to_a_file_in_bounded_memory(tmp_path: Path) -> None:
    settings = ClickHouseSettings(url=f"chdb://{tmp_path / 'chdb'}")
    started = time.monotonic()
    with ClickHouseStore(settings).connect() as store:
        ensure_log_schema(store, settings.database, settings.table)
        store.command(BIG_INSERT.format(columns=", ".join(INSERT_COLUMNS), base=BASE_MS, n=N_BIG))
        assert store.query_rows("SELECT count() FROM actionlog.content_actions_log") == [(N_BIG,)]
    landed = time.monotonic() - started

    # The fixed cost: the same command opening the embedded engine for an empty report.
    code, floor, _, _ = run_measured(
        ["--from", "1990-01-01", "--to", "1990-01-02"], settings.url, tmp_path, subprocess.DEVNULL
    )
    assert code == 0

    out = tmp_path / "out"
    out.mkdir()
    target = out / "all.csv"
    args = ["--format", "csv", "--from", "1990-01-01", "--to", "2100-01-01", "--output", str(target)]
    code, peak, stderr, elapsed = run_measured(args, settings.url, tmp_path, subprocess.DEVNULL)
    print(
        f"\n1M-row CSV export to a file: peak RSS {peak / MIB:.0f} MiB in {elapsed:.1f} s "
        f"(empty report: {floor / MIB:.0f} MiB; landing took {landed:.1f} s; file {target.stat().st_size >> 20} MiB)"
    )
    assert code == 0, stderr.decode()
    assert peak - floor < 300 * MIB  # what the export itself adds to the engine's fixed footprint
    assert peak < 600 * MIB
    assert os.listdir(out) == ["all.csv"]

    with open(target, "rb") as f:
        first, second = f.readline(), f.readline()
        lines = 2 + sum(1 for _ in f)
    assert lines == N_BIG + 1
    assert first == HEADER
    newest = N_BIG - 1
    assert (
        second
        == (
            f'"learner{newest % 5000}@example.com","Panorama {newest % 20}","course",'
            f'"Lesson {newest}, ""part"" {newest % 9} of the safety course","enrollment","sso",'
            f'"{iso_utc(BASE_MS + newest * 997)}"\r\n'
        ).encode()
    )
    with open(target, "rb") as f:
        f.seek(-200, os.SEEK_END)
        last = f.read().split(b"\r\n")[-2]
    assert last.startswith(b'"learner0@example.com","Panorama 0","course","Lesson 0, ""part"" 0 of')
    assert last.endswith(f'"{iso_utc(BASE_MS)}"'.encode())

    # Nothing but progress on stderr. Progress shows once an export has run for a second, which
    # this one may or may not on a fast machine: that it shows is proven with a slow worker in
    # test_progress_of_a_long_export_goes_to_stderr_only; here, whatever shows must be progress.
    shown = [p for p in stderr.decode().replace("\r", "\n").split("\n") if p]
    assert all(re.fullmatch(r"actionlog: ~[0-9,]+ lines written", p) for p in shown[:-1])
    assert shown[-1:] in ([], [f"actionlog: ~{N_BIG + 1:,} lines written to {target}"])

    # The same export to stdout: exactly the file's bytes there, nothing on stderr.
    with open(tmp_path / "stdout.csv", "wb") as sink:
        code, peak_stdout, stderr, elapsed_stdout = run_measured(args[:-2], settings.url, tmp_path, sink)
    print(f"1M-row CSV export to stdout: peak RSS {peak_stdout / MIB:.0f} MiB in {elapsed_stdout:.1f} s")
    assert (code, stderr) == (0, b"")
    assert peak_stdout - floor < 300 * MIB
    assert (tmp_path / "stdout.csv").read_bytes() == target.read_bytes()
