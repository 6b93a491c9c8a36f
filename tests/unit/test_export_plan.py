"""Unit tests of the export job's pure parts (names, job names, settings, SQL) and of its run
algorithm against an in-memory backend (recovery, two-phase recording, cleanup on failure)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from actionlog.core.errors import ActionlogError, BadParameter, ConfigError, ExportLocked, StoreError
from actionlog.core.settings import ExportSettings, Settings
from actionlog.query.export import job as runner
from actionlog.query.export import plan as ex
from actionlog.query.export.state import (
    JobState,
    RunRecord,
    Window,
    check_record,
    committed_hi_query,
    latest_run_query,
    record_query,
    runs_ddl,
)
from actionlog.query.filters import EARLIEST, LATEST

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}")
HOSTILE_JOBS = ["x'; DROP TABLE export_runs; --", "{job:String}", "a\\' OR 1 --", "é漢🙂", "j`b"]


# ---------------------------------------------------------------- job names


@pytest.mark.parametrize("job", ["a", "hourly", "Daily-Report_2", "a.b", "9", "x" * 100, "a..b", "a-", "a_"])
def test_good_job_names(job: str) -> None:
    assert ex.validate_job(job) == job


@pytest.mark.parametrize(
    "job", ["", ".hidden", "-x", "_x", "a/b", "../x", "a b", "x" * 101, "é", "a\n", "a\x00", "*", "a:b", "a\\b"]
)
def test_bad_job_names(job: str) -> None:
    with pytest.raises(BadParameter) as info:
        ex.validate_job(job)
    assert info.value.param == "job"
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


# ---------------------------------------------------------------- file names


def test_stamp_and_iso() -> None:
    assert ex.stamp(0) == "19700101T000000000Z"
    ms = int(datetime(2026, 11, 28, 10, 15, 0, 123000, tzinfo=UTC).timestamp() * 1000)
    assert ex.stamp(ms) == "20261128T101500123Z"
    assert ex.iso(ms) == "2026-11-28T10:15:00.123Z"


def test_file_name_shape() -> None:
    ms = int(datetime(2026, 11, 28, 10, 15, 0, 123000, tzinfo=UTC).timestamp() * 1000)
    name = ex.file_name("hourly", 42, ms, ms + 3_600_000, "csv")
    assert name == "hourly.000000042.20261128T101500123Z-20261128T111500123Z.csv"
    assert ex.temp_name(name) == f".{name}.part"


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_names_sort_in_run_order(fmt: str) -> None:
    names, lo = [], 0
    hi = 1_700_000_000_000
    for run_id in [*range(1, 12), 99, 100, 101, 9_999, 10_000, 99_999, 100_000, 999_999, 1_000_000, 123_456_789]:
        names.append(ex.file_name("job", run_id, lo, hi, fmt))
        lo, hi = hi, hi + 1 + run_id * 7
    assert sorted(names) == names
    assert len(set(names)) == len(names)


def test_temp_files_of_a_job_are_told_apart_from_other_jobs() -> None:
    final_a = ex.file_name("a", 3, 0, 5, "csv")
    final_ab = ex.file_name("a.b", 3, 0, 5, "json")
    final_a1 = ex.file_name("a.000000001", 3, 0, 5, "csv")
    assert ex.is_temp_of("a", ex.temp_name(final_a))
    assert not ex.is_temp_of("a", ex.temp_name(final_ab))
    assert not ex.is_temp_of("a", ex.temp_name(final_a1))
    assert ex.is_temp_of("a.b", ex.temp_name(final_ab))
    assert not ex.is_temp_of("a", final_a)  # a delivered file is never a temp file
    assert not ex.is_temp_of("a", ".a.lock")
    assert not ex.is_temp_of("a", ex.temp_name(final_a) + "x")
    assert ex.is_temp_of("x.y", ex.temp_name(ex.file_name("x.y", 10**10, 1, 2, "ndjson")))


# ---------------------------------------------------------------- settings and parameters


@pytest.mark.parametrize(("raw", "want"), [("0", 0), ("0.001", 1), ("2.5", 2_500), (" 30 ", 30_000)])
@pytest.mark.parametrize("url", ["chdb://x", "http://h:8123/db"])
def test_a_set_safety_lag_wins_for_any_store(raw: str, want: int, url: str) -> None:
    settings = Settings.from_env({"ACTIONLOG_EXPORT_SAFETY_LAG": raw, "CLICKHOUSE_URL": url})
    assert ex.safety_lag_ms(settings) == want


@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({"CLICKHOUSE_URL": "chdb://x"}, 0),  # the embedded engine serializes inserts and reads
        ({"CLICKHOUSE_URL": "chdb://x", "ACTIONLOG_CLICKHOUSE_INSERT_TIMEOUT": "90"}, 0),
        ({"CLICKHOUSE_URL": "http://h:8123/db"}, 30_000),  # a server: the insert timeout (default 30 s)
        ({"CLICKHOUSE_URL": "https://h/db", "ACTIONLOG_CLICKHOUSE_INSERT_TIMEOUT": "45"}, 45_000),
        ({"CLICKHOUSE_URL": "http://h:8123/db", "ACTIONLOG_CLICKHOUSE_INSERT_TIMEOUT": "2"}, 10_000),  # at least 10 s
    ],
)
def test_the_default_safety_lag_depends_on_the_store(env: dict[str, str], want: int) -> None:
    assert ex.safety_lag_ms(Settings.from_env(env)) == want


@pytest.mark.parametrize("raw", ["x", "-1", "1e9", "nan", "inf"])
def test_bad_safety_lag(raw: str) -> None:
    with pytest.raises(ConfigError, match="ACTIONLOG_EXPORT_SAFETY_LAG"):
        Settings.from_env({"ACTIONLOG_EXPORT_SAFETY_LAG": raw})


def test_export_filters_have_no_default_range() -> None:
    got = ex.parse_export_params({"type": ["enrollment"]})
    assert (got.start, got.end) == (EARLIEST, LATEST)
    assert ex.parse_export_params({"from": ["2026-11-01"]}).end == LATEST
    assert ex.parse_export_params({"to": ["2026-11-01"]}).start == EARLIEST


def test_export_refuses_limit() -> None:
    with pytest.raises(BadParameter) as info:
        ex.parse_export_params({"limit": ["5"]})
    assert info.value.param == "limit"


# ---------------------------------------------------------------- state SQL


def placeholders(sql: str) -> dict[str, str]:
    return dict(PLACEHOLDER.findall(sql))


def test_runs_ddl() -> None:
    ddl = runs_ddl("actionlog")
    assert "CREATE TABLE IF NOT EXISTS `actionlog`.`export_runs`" in ddl
    for column in ("job String", "run_id UInt64", "lo_ms Int64", "hi_ms Int64", "row_count UInt64", "filters String"):
        assert re.search(column.replace(" ", r"\s+"), ddl)
    with pytest.raises(ValueError):
        runs_ddl("a`b")


@pytest.mark.parametrize("job", ["hourly", *HOSTILE_JOBS])
def test_state_queries_bind_the_job(job: str) -> None:
    for build in (latest_run_query, committed_hi_query):
        q = build("actionlog", job)
        assert q.params == {"job": job}
        assert placeholders(q.sql) == {"job": "String"}
        if job != "{job:String}":
            assert job not in q.sql
        assert q.sql == build("actionlog", "plain").sql


@pytest.mark.parametrize("job", ["hourly", *HOSTILE_JOBS])
def test_record_query_binds_every_value(job: str) -> None:
    run = RunRecord(job, 7, "pending", 1, 2, 3, f"{job}.csv", '{"type": ["x\'y"]}')
    q = record_query("actionlog", run)
    assert set(placeholders(q.sql)) == set(q.params) == set(run.to_json())
    assert placeholders(q.sql)["run_id"] == "UInt64" and placeholders(q.sql)["lo_ms"] == "Int64"
    assert q.sql == record_query("actionlog", RunRecord("p", 1, "committed", 0, 0)).sql
    with pytest.raises(ValueError):
        record_query("actionlog", replace(run, state="done"))


def test_run_record_json_round_trip_and_validation() -> None:
    run = RunRecord("j", 3, "committed", 5, 9, 4, "f.csv", "{}")
    assert RunRecord.from_json(json.loads(json.dumps(run.to_json()))) == run
    state = JobState(latest=run, committed_hi_ms=9)
    assert JobState.from_json(json.loads(json.dumps(state.to_json()))) == state
    assert JobState.from_json({"latest": None, "committed_hi_ms": 0}) == JobState(None, 0)
    for bad in ({"state": "nope"}, {"run_id": "3"}, {"rows": True}, {"run_id": 0}, {"rows": -1}):
        with pytest.raises(ValueError):
            RunRecord.from_json({**run.to_json(), **bad})
    with pytest.raises(ValueError):
        RunRecord.from_json({"job": "j"})


# ---------------------------------------------------------------- the run, on an in-memory backend


class FakeBackend:
    """An ExportBackend in memory: rows are (ingested_ms, csv line)."""

    def __init__(self, now_ms: int = 1_000_000) -> None:
        self.clock = now_ms
        self.rows: list[tuple[int, bytes]] = []
        self.records: list[RunRecord] = []
        self.fail_record: str | None = None
        self.fail_stream = False

    def job_state(self, job: str) -> JobState:
        runs: dict[int, RunRecord] = {}
        for r in self.records:  # a run's latest record, a final state outranking pending
            if r.job == job and (r.run_id not in runs or r.state != "pending"):
                runs[r.run_id] = r
        latest = runs[max(runs)] if runs else None
        hi = max((r.hi_ms for r in runs.values() if r.state == "committed"), default=0)
        return JobState(latest, hi)

    def record(self, run: RunRecord) -> None:
        if self.fail_record == run.state:
            raise StoreError("ClickHouse error: boom")
        self.records.append(run)

    def now_ms(self) -> int:
        return self.clock

    def window_chunks(self, window: Window) -> Iterator[bytes]:
        for ingested, line in self.rows:
            if window.lo_ms < ingested <= window.hi_ms:
                if self.fail_stream:
                    raise StoreError("ClickHouse error: cut")
                yield line

    def count(self, window: Window) -> int:
        return sum(1 for ingested, _ in self.rows if window.lo_ms < ingested <= window.hi_ms)

    def close(self) -> None:
        pass


def run(backend: FakeBackend, out: Path, job: str = "j", dry_run: bool = False) -> runner.ExportResult:
    settings = Settings(export=ExportSettings(safety_lag=10))
    return runner.run_export(settings, job=job, output_dir=out, params={}, dry_run=dry_run, backend=backend)


def visible(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def hidden(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))


def test_runs_move_the_watermark_and_number_the_files(tmp_path: Path) -> None:
    b, out = FakeBackend(), tmp_path / "new" / "dir"
    b.rows = [(500, b'"a"\r\n'), (989_999, b'"b"\r\n')]
    first = run(b, out)
    assert (first.run_id, first.rows, first.lo_ms, first.hi_ms) == (1, 2, 0, 989_999)
    assert first.file is not None and first.file.read_bytes().endswith(b'"a"\r\n"b"\r\n')
    b.rows.append((995_000, b'"late"\r\n'))  # landed after hi: the next window
    b.clock = 2_000_000
    second = run(b, out)
    assert (second.run_id, second.rows, second.lo_ms) == (2, 1, 989_999)
    assert second.file is not None and second.file.read_bytes().endswith(b'"late"\r\n')
    assert visible(out) == [first.file.name, second.file.name]
    assert [r.state for r in b.records] == ["pending", "committed", "pending", "committed"]
    assert hidden(out) == []


def test_the_window_ends_before_the_millisecond_of_the_clock_reading(tmp_path: Path) -> None:
    """An insert may start in the very millisecond the clock was read and stamp its rows with it;
    they are not visible yet, so they belong to the next window, never to this one."""
    b = FakeBackend()
    b.rows = [(b.clock - 10_001, b'"before"\r\n'), (b.clock - 10_000, b'"same ms"\r\n')]
    first = run(b, tmp_path)
    assert first.hi_ms == b.clock - 10_000 - 1 and first.rows == 1
    b.clock += 5
    second = run(b, tmp_path)
    assert second.lo_ms == first.hi_ms and second.rows == 1
    assert second.file is not None and second.file.read_bytes().endswith(b'"same ms"\r\n')


def test_an_empty_run_writes_no_file_but_moves_the_watermark(tmp_path: Path) -> None:
    b = FakeBackend()
    result = run(b, tmp_path)
    assert (result.rows, result.file) == (0, None)
    assert visible(tmp_path) == [] and hidden(tmp_path) == []
    assert b.records == [RunRecord("j", 1, "committed", 0, 989_999, 0, "", "{}")]
    assert "no file written" in result.summary()


def test_nothing_to_do_when_the_window_is_empty(tmp_path: Path) -> None:
    b = FakeBackend()
    run(b, tmp_path)
    result = run(b, tmp_path)  # same clock: hi == lo
    assert result.empty_window and len(b.records) == 1
    assert "nothing to do" in result.summary()


def test_dry_run_counts_and_writes_nothing(tmp_path: Path) -> None:
    b, out = FakeBackend(), tmp_path / "absent"
    b.rows = [(5, b"x\n"), (6, b"y\n")]
    result = run(b, out, dry_run=True)
    assert (result.rows, result.file, result.run_id) == (2, None, 1)
    assert not out.exists() and b.records == []
    assert result.summary().startswith("dry run:") and "2 rows" in result.summary()


@pytest.mark.parametrize("where", ["final", "temp", "gone"])
def test_a_pending_run_rolls_forward(tmp_path: Path, where: str) -> None:
    b = FakeBackend()
    name = ex.file_name("j", 1, 0, 500, "csv")
    b.records.append(RunRecord("j", 1, "pending", 0, 500, 1, name, "{}"))
    if where == "final":
        (tmp_path / name).write_bytes(b"h\r\nx\r\n")
    elif where == "temp":
        (tmp_path / ex.temp_name(name)).write_bytes(b"h\r\nx\r\n")
    stale = tmp_path / ex.temp_name(ex.file_name("j", 9, 0, 1, "json"))
    stale.write_bytes(b"partial")
    other = tmp_path / ex.temp_name(ex.file_name("j.x", 1, 0, 1, "csv"))
    other.write_bytes(b"another job's")
    b.rows = [(400, b"old\r\n"), (600, b"new\r\n")]
    result = run(b, tmp_path)
    assert b.records[1] == replace(b.records[0], state="committed")
    assert (result.run_id, result.lo_ms, result.rows) == (2, 500, 1)  # row 400 is not delivered again
    assert "recovered interrupted run 1" in result.summary()
    assert not stale.exists() and other.exists()
    if where != "gone":
        assert (tmp_path / name).read_bytes() == b"h\r\nx\r\n"
    assert not (tmp_path / ex.temp_name(name)).exists()


def test_dry_run_reports_recovery_without_doing_it(tmp_path: Path) -> None:
    b = FakeBackend()
    name = ex.file_name("j", 1, 0, 500, "csv")
    b.records.append(RunRecord("j", 1, "pending", 0, 500, 1, name, "{}"))
    (tmp_path / ex.temp_name(name)).write_bytes(b"h\r\nx\r\n")
    result = run(b, tmp_path, dry_run=True)
    assert result.lo_ms == 500 and len(b.records) == 1 and "would recover" in result.summary()
    assert (tmp_path / ex.temp_name(name)).exists()


def test_a_failed_stream_leaves_nothing(tmp_path: Path) -> None:
    b = FakeBackend()
    b.rows, b.fail_stream = [(5, b"x\n")], True
    with pytest.raises(StoreError):
        run(b, tmp_path)
    assert visible(tmp_path) == [] and hidden(tmp_path) == [] and b.records == []


def test_a_failed_pending_record_keeps_the_temp_file_for_recovery(tmp_path: Path) -> None:
    b = FakeBackend()
    b.rows, b.fail_record = [(5, b"x\n")], "pending"
    with pytest.raises(StoreError):
        run(b, tmp_path)
    assert visible(tmp_path) == [] and len(hidden(tmp_path)) == 1  # the record may have landed
    b.fail_record = None
    result = run(b, tmp_path)  # it had not: the temp file is stale, the rows come again
    assert result.rows == 1 and hidden(tmp_path) == [] and len(visible(tmp_path)) == 1


def test_a_failed_commit_record_is_finished_by_the_next_run(tmp_path: Path) -> None:
    b = FakeBackend()
    b.rows, b.fail_record = [(5, b"x\n")], "committed"
    with pytest.raises(StoreError, match="next run records it committed"):
        run(b, tmp_path)
    assert len(visible(tmp_path)) == 1
    b.fail_record, b.clock = None, 2_000_000
    result = run(b, tmp_path)
    assert result.rows == 0 and "file was in place" in result.summary()
    assert len(visible(tmp_path)) == 1


def test_a_held_lock_is_exit_3_material(tmp_path: Path) -> None:
    import fcntl

    fd = os.open(tmp_path / ".j.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(ExportLocked, match=r"export job j is already running \(lock .*\.j\.lock\)"):
            run(FakeBackend(), tmp_path)
        run(FakeBackend(), tmp_path, job="other")  # another job is not blocked
    finally:
        os.close(fd)


def test_an_unwritable_output_dir_is_a_bad_parameter(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadParameter) as info:
        run(FakeBackend(), tmp_path / "file" / "sub")
    assert info.value.param == "output-dir"


# ---------------------------------------------------------------- what may be recorded

NAME = ex.file_name("j", 2, 100, 200, "csv")
PENDING_1 = RunRecord("j", 1, "pending", 0, 100, 5, ex.file_name("j", 1, 0, 100, "csv"))


@pytest.mark.parametrize(
    ("state", "run"),
    [
        (JobState(None, 0), RunRecord("j", 1, "pending", 0, 100, 5, ex.file_name("j", 1, 0, 100, "csv"))),
        (JobState(None, 0), RunRecord("j", 1, "committed", 0, 100)),  # an empty window
        (JobState(PENDING_1, 0), replace(PENDING_1, state="committed")),
        (JobState(replace(PENDING_1, state="committed"), 100), RunRecord("j", 2, "pending", 100, 200, 1, NAME)),
    ],
)
def test_what_the_exporter_records_is_accepted(state: JobState, run: RunRecord) -> None:
    check_record(state, run, now_ms=1_000)


@pytest.mark.parametrize(
    ("state", "run", "why"),
    [
        (JobState(None, 0), RunRecord("j", 1, "pending", 0, 2**62, 5, "x"), "window"),  # hi beyond the clock
        (JobState(None, 0), RunRecord("j", 1, "committed", 50, 40), "window"),
        (JobState(None, 0), RunRecord("j", 1, "pending", 0, 100, 5, "../etc/passwd"), "pattern"),
        (
            JobState(None, 0),
            RunRecord("j", 1, "pending", 0, 100, 5, ex.file_name("other", 1, 0, 100, "csv")),
            "pattern",
        ),
        (JobState(None, 0), RunRecord("j", 7, "committed", 0, 100), "must be run 1"),
        (JobState(None, 0), RunRecord("j", 1, "committed", 10, 100), "starting at 0"),
        (JobState(None, 0), RunRecord("j", 1, "aborted", 0, 100), "operator"),
        (JobState(replace(PENDING_1, state="committed"), 100), replace(PENDING_1, state="committed"), "cannot go"),
        (JobState(PENDING_1, 0), replace(PENDING_1, state="committed", hi_ms=90), "cannot go"),
    ],
)
def test_anything_else_is_refused(state: JobState, run: RunRecord, why: str) -> None:
    with pytest.raises(ActionlogError, match=why):
        check_record(state, run, now_ms=1_000)
