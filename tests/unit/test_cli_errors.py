"""CLI error contract: bad arguments exit 2 with one line; an unreachable store exits 1, one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actionlog", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["report", "--format", "xml"], "format"),
        (["report", "--source", "teleportation"], "source"),
        (["report", "--from", "2026-13-01"], "from"),
        (["report", "--from", "2026-11-05", "--to", "2026-11-01"], "from"),
        (["report", "--tz", "Mars/Olympus"], "tz"),
        (["report", "--limit", "-3"], "limit"),
        (["report", "--bogus"], "--bogus"),
        (["dlq", "replay", "--reason", "nope"], "reason"),
        (["report", "--output", "/nonexistent-dir/r.csv"], "output"),
        (["report", "--output", "/tmp"], "output"),
        (["export", "--job", "bad job!", "--output-dir", "/tmp/x"], "job"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    res = run(*args, env={"CLICKHOUSE_URL": f"chdb://{tmp_path / 'never-opened'}"})
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert needle in lines[0]
    assert "Traceback" not in res.stderr
    assert res.stdout == ""
    assert not (tmp_path / "never-opened").exists()  # rejected before touching the store


def test_bad_setting_exits_2(tmp_path: Path) -> None:
    res = run("report", env={"CLICKHOUSE_URL": "mysql://nope"})
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "CLICKHOUSE_URL" in res.stderr


def test_unreachable_server_exits_1_with_one_line_and_no_secret() -> None:
    res = run("report", env={"CLICKHOUSE_URL": "http://admin:topsecret@127.0.0.1:9/actionlog"})
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert "topsecret" not in res.stderr


def test_output_file_not_created_when_store_unreachable(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    res = run("report", "--output", str(out), env={"CLICKHOUSE_URL": "http://127.0.0.1:9/actionlog"})
    assert res.returncode == 1
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["worker"], ["dlq", "replay"], ["topics", "create"]])
def test_unreachable_broker_exits_1_with_a_readable_line(args: list[str], tmp_path: Path) -> None:
    res = run(*args, env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "CLICKHOUSE_URL": f"chdb://{tmp_path / 's'}"})
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("actionlog: Kafka unreachable")
    assert "Traceback" not in res.stderr
