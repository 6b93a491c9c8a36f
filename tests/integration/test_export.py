"""The export job (docs/export.md) end to end on the embedded store; all but the last test without Kafka.

Rows are landed with `testkit.rows.land` in this process, which then CLOSES the store: chDB
allows one process per data path, and ``actionlog export`` runs as a real subprocess (so it can
be killed with SIGKILL at the test seam's pause points). The through-the-worker test holds the
store the way a worker does (`testkit.served.ServedStore`), so the CLI has to go through it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from actionlog.core.scope import Scope
from actionlog.core.seams import EXPORT_PAUSE_POINTS as PAUSE_POINTS
from actionlog.core.settings import ClickHouseSettings
from actionlog.query.filters import parse_report_params
from actionlog.query.sql import FINAL_FILTER_SETTINGS, build_report_query
from actionlog.store.clickhouse import ClickHouseStore
from testkit.kafka import produce
from testkit.pipeline import Pipeline, wait_for
from testkit.rows import land
from testkit.served import ServedStore

PAUSE_ENV = "ACTIONLOG_TEST_EXPORT_PAUSE"
SAFETY_LAG_ENV = "ACTIONLOG_EXPORT_SAFETY_LAG"

pytestmark = pytest.mark.integration

HEADER = "Email,Panorama Name,Content Type,Content Title,Type,Source,Timestamp"
DAY = 86_400_000
NOW = int(time.time() * 1000)


def event(eid: str, occurred_ms: int, *, title: str | None = None, type_: str = "enrollment") -> dict[str, Any]:
    """A row as the sink writes it; the title identifies the event in the exported files."""
    return {
        "event_id": eid,
        "occurred_at": occurred_ms,
        "action_type": type_,
        "source": "sso" if type_ == "enrollment" else "course_completed",
        "learner_id": f"u-{eid}",
        "email": f"{eid}@example.com",
        "panorama_id": "",
        "panorama_name": "",
        "content_id": "c-1",
        "content_type": "course",
        "content_title": title if title is not None else f'title {eid}, "quoted"\nline 2',
        "course_group_id": "",
        "actor_id": "",
        "actor_email": "",
        "kafka_topic": "t",
        "kafka_partition": 0,
        "kafka_offset": 0,
    }


def insert(store: ClickHouseStore, events: Sequence[dict[str, Any]]) -> None:
    land(store, events)


class Lab:
    """One test's store, output directory and CLI runs."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.out = tmp / "out"
        self.settings = ClickHouseSettings(url=f"chdb://{tmp / 'chdb'}")
        self.env = {
            **os.environ,
            "CLICKHOUSE_URL": self.settings.url,
            SAFETY_LAG_ENV: "0.001",
            "ACTIONLOG_HTTP_PORT": "0",
        }
        self.env.pop(PAUSE_ENV, None)
        with ClickHouseStore(self.settings).connect() as store:
            land(store, [])

    def land(self, *batches: Sequence[dict[str, Any]]) -> None:
        """Insert each batch as one block (one part), then close the store."""
        with ClickHouseStore(self.settings).connect() as store:
            for batch in batches:
                insert(store, batch)

    def _args(self, job: str, args: Sequence[str]) -> list[str]:
        return [sys.executable, "-m", "actionlog", "export", "--job", job, "--output-dir", str(self.out), *args]

    def export(self, job: str, *args: str, code: int = 0) -> str:
        """Run one export to completion; check its exit code; return its stderr."""
        res = subprocess.run(self._args(job, args), env=self.env, capture_output=True, timeout=120, cwd=self.tmp)
        stderr = res.stderr.decode()
        assert res.returncode == code, stderr
        return stderr

    def start_paused(self, job: str, point: str, *args: str) -> subprocess.Popen[bytes]:
        """Start an export that stops at ``point``; return once it got there."""
        proc = subprocess.Popen(
            self._args(job, args), env={**self.env, PAUSE_ENV: point}, stderr=subprocess.PIPE, cwd=self.tmp
        )
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if f"paused at {point}".encode() in line:
                return proc
        pytest.fail(f"the export exited ({proc.wait()}) before pausing at {point}: {b''.join(seen)!r}")

    def files(self, job: str) -> list[Path]:
        if not self.out.exists():
            return []
        return sorted(p for p in self.out.iterdir() if p.name.startswith(f"{job}."))

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.out.iterdir() if p.name.endswith(".part"))

    def delivered(self, job: str) -> list[str]:
        """Titles of every row in every file of ``job``, in file order."""
        titles: list[str] = []
        for path in self.files(job):
            titles.extend(read_titles(path))
        return titles


def read_titles(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        assert ",".join(rows[0]) == HEADER
        return [row[3] for row in rows[1:]]
    if path.suffix == ".json":
        return [obj["content_title"] for obj in json.loads(data)]
    return [json.loads(line)["content_title"] for line in data.decode().splitlines()]


def title(e: dict[str, Any]) -> str:
    return str(e["content_title"])


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)


# ---------------------------------------------------------------- (a) interleaved runs


def test_interleaved_landings_and_runs_deliver_every_event_exactly_once(lab: Lab) -> None:
    base = NOW - DAY
    landed = [event(f"r0-{i}", base + i) for i in range(30)]
    lab.land(landed)
    assert "30 rows" in lab.export("all")
    for k in range(1, 5):
        new = [event(f"r{k}-{i}", base + k * 1000 + i) for i in range(10)]
        late = [event(f"r{k}-late-{i}", NOW - (40 + k) * DAY - i) for i in range(5)]  # older than 30 days
        exact = [dict(e) for e in landed[k::7]]  # same event_id, occurred_at and content
        changed = [{**e, "content_title": f"CHANGED {k} {e['event_id']}"} for e in landed[k + 1 :: 9]]
        same_batch = [dict(new[0])]  # a duplicate inside the batch that brings the original
        lab.land(new + late + same_batch, exact, changed)
        landed += new + late
        lab.export("all")
        if k == 2:
            assert "no rows" in lab.export("all")  # nothing landed since: no file
    got = lab.delivered("all")
    assert Counter(got) == Counter(title(e) for e in landed)  # every event, each exactly once
    assert not any(t.startswith("CHANGED") for t in got)  # the first landed copy wins
    names = [p.name for p in lab.files("all")]
    assert len(names) == 5 and names == sorted(names)
    assert [n.split(".")[1] for n in names] == ["000000001", "000000002", "000000003", "000000005", "000000006"]
    assert lab.leftovers() == []


# ---------------------------------------------------------------- (b) kill -9 anywhere


@pytest.mark.parametrize("point", PAUSE_POINTS)
def test_a_run_killed_anywhere_leaves_no_partial_file_and_the_next_run_delivers(lab: Lab, point: str) -> None:
    first = [event(f"a{i}", NOW - DAY + i) for i in range(5)]
    lab.land(first)
    lab.export("k", "--format", "json")
    second = [event(f"b{i}", NOW - 50 * DAY + i) for i in range(6)]
    lab.land(second, first[:2])
    proc = lab.start_paused("k", point, "--format", "json")
    try:
        temp_present = {"before_write": False, "mid_write": True, "before_pending": True, "after_pending": True}
        if point in temp_present:
            assert bool(lab.leftovers()) is temp_present[point]
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    visible = lab.files("k")
    if point == "after_rename":  # renamed, not yet recorded committed: complete, and kept
        assert len(visible) == 2 and Counter(read_titles(visible[1])) == Counter(map(title, second))
    else:
        assert len(visible) == 1
    third = [event(f"c{i}", NOW - 2 * DAY + i) for i in range(4)]
    lab.land(third, second[:3])
    stderr = lab.export("k", "--format", "json")
    if point in ("after_pending", "after_rename"):
        assert "recovered interrupted run 2" in stderr
    assert lab.leftovers() == []
    assert Counter(lab.delivered("k")) == Counter(map(title, first + second + third))


# ---------------------------------------------------------------- (c) independent jobs


def test_jobs_with_different_filters_are_independent(lab: Lab) -> None:
    enrol1 = [event(f"e1-{i}", NOW - DAY + i) for i in range(4)]
    status1 = [event(f"s1-{i}", NOW - DAY + i, type_="status_change") for i in range(3)]
    lab.land(enrol1 + status1)
    lab.export("enrol", "--type", "enrollment")
    enrol2 = [event(f"e2-{i}", NOW - 60 * DAY + i) for i in range(2)]
    status2 = [event(f"s2-{i}", NOW - 2 * DAY + i, type_="status_change") for i in range(5)]
    lab.land(enrol2 + status2, enrol1[:1] + status1[:1])
    lab.export("status", "--type", "status_change", "--format", "ndjson")  # its first run: both rounds
    lab.export("enrol", "--type", "enrollment")
    lab.export("status", "--type", "status_change", "--format", "ndjson")  # nothing new
    assert Counter(lab.delivered("enrol")) == Counter(map(title, enrol1 + enrol2))
    assert Counter(lab.delivered("status")) == Counter(map(title, status1 + status2))
    assert [p.suffix for p in lab.files("status")] == [".ndjson"]
    assert len(lab.files("enrol")) == 2


# ---------------------------------------------------------------- (d) empty runs


def test_an_empty_run_writes_no_file_and_exits_0(lab: Lab) -> None:
    assert "no rows" in lab.export("e")
    lab.land([event("x1", NOW - DAY)])
    assert "no rows" in lab.export("s", "--type", "status_change")  # rows, but none match
    assert lab.files("e") == [] and lab.files("s") == []
    assert sorted(p.name for p in lab.out.iterdir()) == [".e.lock", ".s.lock"]
    lab.export("e")
    assert lab.delivered("e") == [title(event("x1", 0))]


# ---------------------------------------------------------------- (e) concurrent runs


def test_a_second_concurrent_run_of_a_job_exits_3(lab: Lab) -> None:
    lab.land([event("x1", NOW - DAY)])
    proc = lab.start_paused("j", "before_write")
    try:
        res = subprocess.run(lab._args("j", []), env=lab.env, capture_output=True, timeout=120)
        assert res.returncode == 3
        line = res.stderr.decode()
        assert line.count("\n") == 1 and "Traceback" not in line
        assert "export job j is already running" in line and str(lab.out / ".j.lock") in line
    finally:
        proc.kill()
        proc.wait(30)
    lab.export("j")
    assert lab.delivered("j") == [title(event("x1", 0))]


# ---------------------------------------------------------------- (f) dry run


def test_dry_run_counts_the_next_window_and_writes_nothing(lab: Lab) -> None:
    lab.land([event(f"e{i}", NOW - 90 * DAY + i) for i in range(7)])
    lab.land([event(f"s{i}", NOW - DAY + i, type_="status_change") for i in range(3)])
    stderr = lab.export("d", "--type", "enrollment", "--dry-run")
    assert "would export 7 rows" in stderr and "run 1 " in stderr
    assert not lab.out.exists()
    lab.export("d", "--type", "enrollment")
    assert len(lab.delivered("d")) == 7 and lab.files("d")[0].name.startswith("d.000000001.")
    assert "would export 0 rows" in lab.export("d", "--type", "enrollment", "--dry-run")
    assert len(lab.files("d")) == 1


def test_recording_the_latest_run_aborted_has_its_window_exported_again(lab: Lab) -> None:
    rows = [event(f"e{i}", NOW - DAY + i) for i in range(3)]
    lab.land(rows)
    lab.export("op")
    first = lab.files("op")[0]
    with ClickHouseStore(lab.settings).connect() as store:  # what docs/export.md tells an operator to run
        store.command(
            "INSERT INTO actionlog.export_runs (job, run_id, state, lo_ms, hi_ms)"
            " SELECT job, run_id, 'aborted', lo_ms, hi_ms FROM actionlog.export_runs"
            " WHERE job = {job:String} AND run_id = {run:UInt64} AND state = 'committed'",
            {"job": "op", "run": 1},
        )
    first.unlink()
    assert "3 rows" in lab.export("op")
    assert Counter(lab.delivered("op")) == Counter(map(title, rows))
    assert lab.files("op")[0].name.startswith("op.000000002.19700101T000000000Z-")


def test_bad_arguments_exit_2(lab: Lab) -> None:
    assert "invalid --job" in lab.export("../x", code=2)
    assert "invalid --source" in lab.export("j", "--source", "nope", code=2)
    lab.export("j", "--limit", "5", code=2)
    assert not lab.out.exists()


# ---------------------------------------------------------------- the window query itself


def test_the_window_query_is_immune_to_session_settings(lab: Lab) -> None:
    """FINAL must pick the surviving copy before the landing filter; the statement pins that."""
    originals = [event(f"o{i}", NOW - DAY + i) for i in range(300)]
    with ClickHouseStore(lab.settings).connect() as store:
        insert(store, originals)
        lo = int(store.query_rows("SELECT toUnixTimestamp64Milli(now64(3))")[0][0])
        while int(store.query_rows("SELECT toUnixTimestamp64Milli(now64(3))")[0][0]) <= lo:
            pass
        insert(store, [{**e, "content_title": "DUP"} for e in originals[::3]] + [event("n", NOW)])
        hi = int(store.query_rows("SELECT toUnixTimestamp64Milli(now64(3))")[0][0])
        filters = parse_report_params({}, now=datetime.now(UTC), default_days=None)
        q = build_report_query(
            filters,
            database="actionlog",
            table="content_actions_log",
            scope=Scope.everything(),
            ingested_after_ms=lo,
            ingested_until_ms=hi,
        )
        hostile = {"use_skip_indexes_if_final_exact_mode": 0, "optimize_move_to_prewhere_if_final": 1}
        got = store.client.query(q.sql, parameters=q.params, settings=hostile).result_rows
        assert [row[3] for row in got] == [title(event("n", 0))]
        unpinned = q.sql
        for name, value in FINAL_FILTER_SETTINGS:
            unpinned = unpinned.replace(f", {name} = {value}", "")
        leaked = store.client.query(unpinned, parameters=q.params, settings=hostile).result_rows
        assert len(leaked) > 1  # without the pin these settings would deliver the duplicates again


# ---------------------------------------------------------------- (g) through the worker's HTTP endpoint


@pytest.fixture
def served(lab: Lab) -> Iterator[ClickHouseStore]:
    with ServedStore(lab.settings) as held:  # held the way a worker holds it
        yield held.store


def test_exports_go_through_a_running_worker(lab: Lab, served: ClickHouseStore) -> None:
    first = [event(f"h{i}", NOW - DAY + i) for i in range(8)]
    insert(served, first)  # the store is held by this process: the CLI must use HTTP
    assert "8 rows" in lab.export("web", "--format", "json")
    second = [event(f"i{i}", NOW - 45 * DAY + i) for i in range(5)]
    insert(served, second + first[:3])
    insert(served, [{**e, "content_title": "CHANGED"} for e in first[3:6]])
    assert "would export 5 rows" in lab.export("web", "--format", "json", "--dry-run")
    proc = lab.start_paused("web", "after_pending", "--format", "json")
    proc.kill()
    proc.wait(30)
    third = [event(f"j{i}", NOW - 3 * DAY + i, type_="status_change") for i in range(2)]
    insert(served, third)
    assert "recovered interrupted run 2" in lab.export("web", "--format", "json")
    assert lab.leftovers() == []
    assert Counter(lab.delivered("web")) == Counter(map(title, first + second + third))
    lab.export("only-status", "--type", "status_change")
    assert Counter(lab.delivered("only-status")) == Counter(map(title, third))
    assert "invalid --type" in lab.export("web", "--type", "nope", code=2)


def test_exports_through_the_real_worker(env: Pipeline, tmp_path: Path) -> None:
    """The whole pipeline: Kafka → worker (holding the embedded store) → export over its HTTP port."""
    out = tmp_path / "exports"
    env.vars[SAFETY_LAG_ENV] = "0.001"
    env.start_worker()
    env.wait_http()

    def upstream(eid: str, occurred: str, title_: str) -> dict[str, Any]:
        return {
            "event_id": eid,
            "occurred_at": occurred,
            "source": "sso",
            "learner": {"id": f"u-{eid}", "email": f"{eid}@example.com"},
            "content": {"id": "c-1", "type": "course", "title": title_},
        }

    def send(events: list[dict[str, Any]]) -> None:
        topic = env.topic("enrollment")
        produce(env.vars["KAFKA_BOOTSTRAP_SERVERS"], [(topic, None, orjson.dumps(e), None) for e in events])

    def reported() -> int:
        res = env.run("report", "--from", "2020-01-01", "--format", "ndjson")
        assert res.returncode == 0, res.stderr.decode()
        return len(res.stdout.splitlines())

    def export() -> None:
        res = env.run("export", "--job", "live", "--output-dir", str(out), "--format", "ndjson")
        assert res.returncode == 0, res.stderr.decode()

    tag = uuid.uuid4().hex[:6]
    first = [upstream(f"{tag}-a{i}", "2026-11-03T14:05:06.123+01:00", f"a{i}") for i in range(5)]
    send(first)
    wait_for(lambda: reported() == 5, timeout=90, what="5 events landed")
    export()
    late = [upstream(f"{tag}-b{i}", "2021-02-03T04:05:06Z", f"b{i}") for i in range(3)]
    send(first + late)  # redelivered duplicates and late events
    wait_for(lambda: reported() == 8, timeout=90, what="the late events landed")
    export()
    titles = [
        json.loads(line)["content_title"] for p in sorted(out.glob("live.*")) for line in p.read_text().splitlines()
    ]
    assert Counter(titles) == Counter([f"a{i}" for i in range(5)] + [f"b{i}" for i in range(3)])
