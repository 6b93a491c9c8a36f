"""The actionlog bench: ``python bench/run.py [--quick]`` (``make bench`` / ``make bench-quick``).

Starts what it needs itself (a Kafka broker of its own via scripts/kafka.sh on --kafka-port, chDB
stores in a temporary folder), measures every figure beside a ceiling from the same run, prints
a markdown table and writes it, with the date and the machine, to bench/results.md (--quick:
bench/out/results-quick.md, git-ignored, so that a smoke run leaves the full results alone).

Full mode exits 1 when a target is missed (after writing the results); --quick never asserts.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_normalizer
import harness  # first: puts the repository on sys.path
from analysis import explain
from harness import Broker, engine_switch, json_of_script, loadavg, machine, say
from ingest import make_payload, run_e2e, run_freshness
from profiler import summarize
from report import build_store, export, profile_export, report_latency
from results import cpu_budget_text, render, render_table, table_rows
from serve import serve_figures

RESULTS = harness.ROOT / "bench" / "results.md"
QUICK_RESULTS = harness.ROOT / "bench" / "out" / "results-quick.md"  # bench/out/ is git-ignored
TARGET_RATE = 5000.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="small sizes (~1-2 minutes), no assertions")
    p.add_argument("--ingest-events", type=int, help="N pre-loaded events per end-to-end run (200,000; quick 10,000)")
    p.add_argument("--rows", type=int, help="rows of the report/export store (10,000,000; quick 1,000,000)")
    p.add_argument("--report-runs", type=int, help="measured runs per report (20; quick 5)")
    p.add_argument("--freshness-seconds", type=float, help="measured seconds per freshness run (30; quick 4)")
    p.add_argument("--normalizer-events", type=int, help="events of the normalizer bench (200,000; quick 20,000)")
    p.add_argument(
        "--store",
        type=Path,
        help="the report/export store's chDB path: generated there when it has no generate.json beside it, "
        "else reused as it is (a 10M-row store takes ~5 min to make)",
    )
    p.add_argument("--kafka-port", type=int, default=29192, help="port of the bench's own broker (29192)")
    p.add_argument(
        "--skip", action="append", default=[], choices=("normalizer", "store", "ingest", "freshness", "serve")
    )
    p.add_argument("--profile", action=argparse.BooleanOptionalAction, help="py-spy the worker on a missed target")
    p.add_argument("--assert", dest="check", action=argparse.BooleanOptionalAction, help="exit 1 on a MISS")
    p.add_argument(
        "--output", type=Path, help="where the markdown goes (bench/results.md; quick: bench/out/results-quick.md)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (stores, worker logs)")
    a = p.parse_args(argv)
    q = a.quick
    a.ingest_events = a.ingest_events or (10_000 if q else 200_000)
    a.rows = a.rows or (1_000_000 if q else 10_000_000)
    a.report_runs = a.report_runs or (5 if q else 20)
    a.freshness_seconds = a.freshness_seconds or (4.0 if q else 30.0)
    a.normalizer_events = a.normalizer_events or (20_000 if q else 200_000)
    a.profile = (not q) if a.profile is None else a.profile
    a.check = (not q) if a.check is None else a.check
    a.output = a.output or (QUICK_RESULTS if q else RESULTS)
    return a


def measure_store(args: argparse.Namespace, tmp: Path, res: dict[str, Any]) -> None:
    """Report latency and the full export on a store of generated rows (no broker running)."""
    path = args.store or tmp / "bigstore" / "chdb"
    res["store"] = build_store(path, args.rows, optimize=True)
    res["store_path"] = str(path)
    res["reports"] = report_latency(path, args.report_runs)
    res["export"] = ex = export(path, args.rows, tmp, to_devnull=not args.quick)
    missed = ex["rows"] / ex["ours"]["seconds"] < 0.7 * ex["rows"] / ex["ceiling"]["seconds"]
    if args.profile and (missed or ex["ours"]["max_rss_mb"] >= 300):
        title = f"py-spy of `actionlog report --format csv --output FILE` ({args.rows:,} rows, not timed)"
        summary = _attempt(profile_export, path, tmp)
        if "error" not in summary:
            res["profiles"].append((title, summary))


def landing_cost(quick: bool) -> dict[str, Any]:
    """CPU per row of the sink's insert into the embedded store (bench_landing.py, its own process)."""
    rows = 50_000 if quick else 200_000
    say(f"landing: {rows:,} rows in inserts of the sink's batch size, with the log's views and without")
    script = harness.ROOT / "bench" / "bench_landing.py"
    result: dict[str, Any] = json_of_script(script, "--rows", str(rows), timeout=900)
    say(f"  {result['views_us']:.1f} µs/row with the views, {result['log_only_us']:.1f} µs/row the log alone")
    return result


def _floor(rate: float, step: float = 250.0) -> float:
    return max(step, (rate // step) * step)


def freshness_rates(one_worker_eps: float, quick: bool = False) -> list[float]:
    """5k/s (the target) when one worker's measured end-to-end rate reaches it, then lower rates:
    0.75× and 0.5× of that rate (below 5k/s only), until one is sustained. Quick: one attempt."""
    if quick:
        return [TARGET_RATE if one_worker_eps >= TARGET_RATE else _floor(0.5 * one_worker_eps)]
    fallback = [_floor(0.75 * one_worker_eps), _floor(0.5 * one_worker_eps)]
    return ([TARGET_RATE] if one_worker_eps >= TARGET_RATE else []) + [r for r in fallback if r < TARGET_RATE]


def measure_pipeline(args: argparse.Namespace, tmp: Path, res: dict[str, Any]) -> None:
    """End-to-end ingest (one and two normalizer processes), freshness, and py-spy where a target is missed."""
    engines: tuple[str | None, ...] = engine_switch() or (None,)
    res["engines"] = [e for e in engines if e]
    say(f"generating {args.ingest_events:,} events (testkit.events)")
    payload = make_payload(args.ingest_events)
    with Broker(args.kafka_port) as broker:
        one: dict[str | None, float] = {}
        if "ingest" not in args.skip:
            for engine in engines:
                for processes in (1, 2):
                    r = _attempt(run_e2e, broker, tmp, payload, processes=processes, engine=engine)
                    r.setdefault("processes", processes)
                    r.setdefault("workers", 1)
                    res["e2e"].append(r)
                    if "error" not in r:
                        one[engine] = max(one.get(engine, 0.0), r["eps"])
        if "serve" not in args.skip and res.get("store_path"):
            res["serve"] = _attempt(
                serve_figures, broker, tmp, Path(res["store_path"]), res["store"]["rows"], args.report_runs
            )
        if "freshness" not in args.skip:
            warmup = 2.0 if args.quick else 3.0
            for engine in engines:
                capacity = one.get(engine) or 4000.0
                for rate in freshness_rates(capacity, args.quick):
                    f = _attempt(
                        run_freshness, broker, tmp, payload, rate, args.freshness_seconds, engine=engine, warmup=warmup
                    )
                    f.setdefault("rate", rate)
                    f.setdefault("seconds", args.freshness_seconds)
                    res["freshness"].append(f)
                    if f.get("sustained") or "error" in f:
                        break
        if args.profile:
            for engine, eps in one.items():
                r = next(x for x in res["e2e"] if x.get("processes", 1) == 1 and x["engine"] == (engine or "default"))
                if eps >= 30_000 and eps / r["ceiling"]["eps"] >= 0.3:
                    continue
                n = max(10_000, min(len(payload), int(eps * 15)))
                out = tmp / f"pyspy-{engine or 'default'}.raw"
                say(f"profiling the worker ({engine or 'default'} engine) with py-spy on {n:,} events")
                p = _attempt(run_e2e, broker, tmp, payload[:n], workers=1, engine=engine, profile=out)
                if "error" not in p and out.exists():
                    title = f"py-spy of one worker ({engine or 'default'} engine), {n:,} pre-loaded events"
                    res["profiles"].append((title, summarize(out)))
                    res["profile_runs"].append(p)


def _attempt(fn: Any, *args: Any, **kw: Any) -> dict[str, Any]:
    """Run one measurement; a failure (e.g. a worker that crashes) becomes an error row, not an abort."""
    try:
        result: dict[str, Any] = fn(*args, **kw)
        return result
    except Exception as exc:
        reason = error_line(str(exc))
        say(f"  FAILED: {reason}")
        return {
            "error": reason,
            "engine": kw.get("engine") or "default",
            "workers": kw.get("workers", 1),
            "processes": kw.get("processes", 1),
        }


def error_line(text: str) -> str:
    """The most telling line of a failure: the last ``SomethingError: …`` line, else the first line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Exit)\b", line)]
    return (errors[-1] if errors else lines[0] if lines else "unknown error")[:300]


def notes(args: argparse.Namespace, res: dict[str, Any]) -> list[str]:
    n = f"{args.ingest_events:,}"
    out = [
        "normalizer: `bench/bench_normalizer.py` `run(n, rounds)` — `normalize` + `AvroCodec.encode` from the "
        "upstream JSON bytes to the framed message vs `fastavro.schemaless_writer` alone on the same records "
        "(dicts), best of alternating rounds, CPU time of one process.",
        f"end-to-end: N = {n} events from `tests/support/events.py` (the catalog's mix) pre-loaded into the 4 "
        "input topics (3 partitions each) of a fresh namespace on the bench's own broker; then "
        "`python -m actionlog worker` starts with an empty chDB store. The rate is counted from the first "
        "event accepted (the worker's /metrics, polled every 0.1 s) until an all-time report over the worker's "
        "HTTP endpoint returns all N rows (the FINAL pattern, so duplicates do not count); the rate from the "
        "worker's start (Faust start-up and group join included) is given beside it. The second worker "
        "(`actionlog worker`, started once the first published its endpoint) finds the embedded store held "
        "and joins as a normalizer only.",
        "ceiling of end-to-end: a bare aiokafka consumer (no group, same fetch sizes as the normalizer) "
        "reading the same N pre-loaded messages with `getmany` and doing nothing, first message → N-th.",
        "freshness: a steady publisher (aiokafka, acks=all) stamps each event's `occurred_at` with its publish "
        "time; the measured window starts after a warm-up (until the worker's first rows landed, plus 3 s; "
        "2 s in quick mode). "
        "Publish → visible = the row's `ingested_at` "
        "(the server's clock when the sink's INSERT ran, same machine clock) − `occurred_at`, plus the sink's "
        "mean insert time from the worker's histogram (rows are visible when the insert returns), read from "
        "the store after the run: nothing queries the report during the run (only /metrics, at its edges). "
        "The ceiling is a bare consumer "
        "of the same input topics in the bench process timing publish → received. 'Sustained' = backlog "
        "under 2 s of publishing when it stopped, drained within 3 s, last-5-s p50 within 1 s of the first. "
        "5k/s is tried when one worker's end-to-end rate reached 5k/s; then (or else) 0.75× and 0.5× of that "
        "rate, until one is sustained (quick mode: one attempt, at 5k/s or 0.5× that rate).",
        f"report store: {res.get('store', {}).get('rows', args.rows):,} rows written straight into "
        "`actionlog.content_actions_log` by one `INSERT … SELECT … FROM numbers(N)` after `Store.ensure_schema()`"
        " (~400 days of occurred_at up to now, 20 panoramas + the main site, 5,000 learners, 2,000 contents "
        "with 2–12-word titles, every Type/Source pair equally often, actors on manager_* sources), then "
        "`OPTIMIZE TABLE … FINAL` (merged: one part per month). Reports still read with FINAL, as the code does.",
        "report latency: `query.report.report_chunks` with `parse_report_params` filters (the path of the CLI "
        "and the HTTP endpoint), all chunks read; ceiling: the very statements it ran (recorded by "
        "`testkit.recording`: candidates from the filter keys, keys, then the rows; more candidates when "
        "a page is not full) sent to the client directly, "
        "`raw_stream(...).read(1 MiB)` for the body — alternating, after 2 warm-up rounds, in one process.",
        "export: `actionlog report --format csv --output FILE --from 1990-01-01 --to 2100-01-01` as a "
        "subprocess (no worker running, so it opens the store itself), wall time, CPU and peak RSS of that "
        "process from `/usr/bin/time`; ceiling: a subprocess running the same SQL with `raw_stream` and "
        "discarding 1 MiB reads. Both whole-process (Python start-up and chDB open included). `actionlog "
        "report` writes through a temporary file, fsync and rename (as the CLI does); the engine writes nowhere.",
    ]
    out.append(
        "ratio: ours ÷ ceiling for rates, ceiling ÷ ours for latencies — 1.0 is as fast as the ceiling, "
        "lower is slower. PASS/MISS against the brief's targets; ERROR when the measurement itself failed."
    )
    if not res.get("engines"):
        out.append(
            "engines: actionlog/settings.py has no ACTIONLOG_PROCESSOR_ENGINE switch at the time of this run, "
            "so end-to-end was measured for the default (Faust) normalizer only."
        )
    return out


def details(res: dict[str, Any]) -> list[str]:
    out = []
    for r in res["e2e"] + res["profile_runs"]:
        if "error" in r:
            out.append(f"e2e {r['engine']} ×{r.get('processes', 1)} process(es): failed — {r['error']}")
            continue
        cpu = ", ".join(f"{c / r['seconds_from_start']:.0%}" for c in r["worker_cpu_s"])
        norm = ", ".join(f"{c / r['seconds_from_start']:.0%}" for c in r.get("normalizer_cpu_s", []))
        normalizers = f", of its normalizer processes {norm}" if norm else ""
        out.append(
            f"e2e {r['engine']} ×{r.get('processes', 1)} process(es) (N={r['n']:,}): "
            f"{r['seconds_from_first']:.1f} s from first event, "
            f"{r['seconds_from_start']:.1f} s from start (HTTP up after {r['http_s']:.1f} s); CPU of the worker "
            f"{cpu} of one core{normalizers}, broker {r['broker_cpu_s'] / r['seconds_from_start']:.0%}; "
            f"{r['duplicates_landed']:,.0f} duplicate rows landed; bare consumer {r['ceiling']['eps']:,.0f}/s "
            f"({r['ceiling']['eps_from_start']:,.0f}/s including its start); {cpu_budget_text(r)}"
        )
    for f in res["freshness"]:
        if "error" in f:
            out.append(f"freshness {f['engine']} at {f['rate']:,.0f}/s: failed — {f['error']}")
            continue
        out.append(
            f"freshness {f['engine']} at {f['rate']:,.0f}/s: published {f['sent']:,} at {f['achieved_rate']:,.0f}/s, "
            f"{f['rows']:,} rows measured, max {f['max_ms']:,.0f} ms, mean insert {f['mean_insert_ms']:.0f} ms"
        )
    if s := res.get("store"):
        out.append(
            f"store: {s['rows']:,} rows generated in {s['insert_s']:.1f} s ({s['parts_before_optimize']} parts), "
            f"OPTIMIZE FINAL {s['optimize_s']:.1f} s → {s['parts']} parts, {s['bytes_on_disk'] / 1e6:,.0f} MB on disk"
        )
    for name, r in res.get("reports", {}).items():
        out.append(f"report {name}: {r['params']} → {r['rows']:,} rows, {r['statements']} statements")
    if ex := res.get("export"):
        out.append(
            f"export: {ex['rows_written']:,} rows, {ex['bytes'] / 1e6:,.0f} MB in {ex['ours']['seconds']:.1f} s "
            f"(CPU {ex['ours']['cpu_s']:.1f} s) vs engine {ex['ceiling']['seconds']:.1f} s "
            f"(CPU {ex['ceiling']['cpu_s']:.1f} s)"
        )
        if so := ex.get("ours_stdout"):
            out.append(
                f"export to stdout > /dev/null (info, no file, no fsync): {ex['rows'] / so['seconds']:,.0f} rows/s, "
                f"peak RSS {so['max_rss_mb']:,.0f} MB"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    res: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_start": loadavg(),
        "mode": "quick" if args.quick else "full",
        "command": " ".join(["python bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "e2e": [],
        "freshness": [],
        "profiles": [],
        "profile_runs": [],
        "normalizer_rounds": 2 if args.quick else 3,
    }
    tmp = Path(tempfile.mkdtemp(prefix="actionlog-bench-"))
    say(f"{res['mode']} bench on {res['machine']}; scratch in {tmp}")
    try:
        if "normalizer" not in args.skip:
            say(f"normalizer: {args.normalizer_events:,} events, {res['normalizer_rounds']} rounds")
            res["normalizer"] = bench_normalizer.run(args.normalizer_events, res["normalizer_rounds"])
            say(f"  {res['normalizer']['ours_eps']:,.0f}/s vs fastavro {res['normalizer']['fastavro_eps']:,.0f}/s")
            res["landing"] = _attempt(landing_cost, args.quick)
        if "store" not in args.skip:
            measure_store(args, tmp, res)
        if not {"ingest", "freshness", "serve"} <= set(args.skip):
            measure_pipeline(args, tmp, res)
    finally:
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    res["elapsed_s"] = time.monotonic() - started
    res["load_end"] = loadavg()
    res["notes"] = notes(args, res)
    res["details"] = details(res)
    res["analysis"] = explain(res)
    rows = table_rows(res)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(res, rows))
    raw = harness.ROOT / "bench" / "out" / f"results-{res['mode']}.json"  # git-ignored: every figure
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(res, indent=1, default=str))
    print(render_table(rows))
    say(f"wrote {args.output} ({res['elapsed_s'] / 60:.1f} min)")
    missed = [r.what for r in rows if r.verdict in ("MISS", "ERROR")]
    if missed and args.check:
        say(f"{len(missed)} target(s) missed")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
