"""Reports and the full export on a big store: rows generated with SQL, measured in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bigstore import run_json
from harness import ROOT, say
from profiler import record_command, summarize

FULL_RANGE = ("--from", "1990-01-01", "--to", "2100-01-01")
TIME = "/usr/bin/time"  # GNU time: peak RSS of the measured process


def build_store(path: Path, rows: int, *, optimize: bool = True) -> dict[str, Any]:
    """Generate ``rows`` realistic rows into a fresh chDB store at ``path``; reuse the store when a
    ``generate.json`` (the answer of its generation) lies beside it."""
    done = path.parent / "generate.json"
    if done.exists():
        reused: dict[str, Any] = json.loads(done.read_text())
        say(f"reusing the store at {path}: {reused['rows']:,} rows ({done})")
        return {**reused, "reused": str(path)}
    say(f"generating {rows:,} rows into {path} (INSERT … SELECT FROM numbers){' + OPTIMIZE FINAL' if optimize else ''}")
    args = ["generate", str(path), "--rows", str(rows)]
    result: dict[str, Any] = run_json(*args, *(["--optimize"] if optimize else []))
    done.write_text(json.dumps(result))
    say(
        f"  {result['rows']:,} rows in {result['insert_s']:.1f}s, {result['parts_before_optimize']} parts "
        f"→ {result['parts']} after {result['optimize_s']:.1f}s of OPTIMIZE, {result['bytes_on_disk'] / 1e6:,.0f} MB"
    )
    return result


def report_latency(path: Path, runs: int) -> dict[str, Any]:
    say(f"report latency: {runs} runs per case, ours (report_chunks) and its statements on the client, alternating")
    result: dict[str, Any] = run_json("reports", str(path), "--runs", str(runs))
    for name, r in result.items():
        say(f"  {name}: ours p50 {r['ours_p50']:.0f} ms / ceiling p50 {r['direct_p50']:.0f} ms ({r['rows']:,} rows)")
    return result


def _timed(cmd: list[str], env: dict[str, str], stdout: Any = subprocess.DEVNULL) -> dict[str, float]:
    """Run ``cmd``; wall seconds, CPU seconds and peak RSS (MB) of that process alone.

    Peak RSS comes from ``/usr/bin/time`` (a small parent): a child forked from this bench process
    would report the bench's own RSS as its high-water mark (Linux carries it over the exec).
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        started = time.monotonic()
        proc = subprocess.run(
            [TIME, "-f", "%M %U %S", "-o", report.name, *cmd], env=env, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT
        )
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        max_kb, user, system = report.read().split()[-3:]
    return {"seconds": seconds, "max_rss_mb": int(max_kb) / 1024, "cpu_s": float(user) + float(system)}


def _count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as f:
        while chunk := f.read(16 << 20):
            lines += chunk.count(b"\n")
    return lines


def export(path: Path, rows: int, out_dir: Path, *, to_devnull: bool = True) -> dict[str, Any]:
    """``actionlog report --format csv --output FILE`` (whole range) against the engine's own CSV."""
    env = {**os.environ, "CLICKHOUSE_URL": f"chdb://{path}"}
    actionlog = str(Path(sys.executable).with_name("actionlog"))
    bigstore = [sys.executable, str(ROOT / "bench" / "bigstore.py")]
    baseline = _timed([*bigstore, "baseline", str(path)], env)
    engine_cmd = [*bigstore, "engine-export", str(path)]
    say("export: the engine's own CSV to nowhere (ceiling)")
    ceiling = _timed(engine_cmd, env)
    say(f"  {rows / ceiling['seconds']:,.0f} rows/s, peak RSS {ceiling['max_rss_mb']:,.0f} MB")
    target = out_dir / "export.csv"
    say(f"export: actionlog report --format csv --output {target}")
    ours = _timed([actionlog, "report", "--format", "csv", "--output", str(target), *FULL_RANGE], env)
    lines = _count_lines(target)
    size = target.stat().st_size
    target.unlink()
    say(f"  {rows / ours['seconds']:,.0f} rows/s, peak RSS {ours['max_rss_mb']:,.0f} MB, {lines - 1:,} rows")
    result: dict[str, Any] = {
        "rows": rows,
        "ours": ours,
        "ceiling": ceiling,
        "baseline": baseline,
        "rows_written": lines - 1,
        "bytes": size,
    }
    if to_devnull:
        say("export (info): actionlog report --format csv > /dev/null")
        result["ours_stdout"] = _timed([actionlog, "report", "--format", "csv", *FULL_RANGE], env)
    return result


def profile_export(path: Path, out_dir: Path) -> dict[str, Any]:
    """py-spy of the same export (not timed): where the process spends its time."""
    say("profiling the export with py-spy")
    env = {**os.environ, "CLICKHOUSE_URL": f"chdb://{path}"}
    target, raw = out_dir / "export-profiled.csv", out_dir / "pyspy-export.raw"
    actionlog = str(Path(sys.executable).with_name("actionlog"))
    record_command([actionlog, "report", "--format", "csv", "--output", str(target), *FULL_RANGE], raw, env, ROOT)
    target.unlink(missing_ok=True)
    return summarize(raw)
