"""The bench's table: each figure beside its ceiling from the same run, the ratio and the target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiler import markdown as profile_markdown


@dataclass(frozen=True)
class Row:
    what: str
    ours: str
    ceiling: str
    ratio: str
    target: str = "—"
    verdict: str = ""  # PASS, MISS or "" (no target)


def cpu_budget_text(r: dict[str, Any]) -> str:
    """µs of CPU per event over the workers, their normalizer processes and the broker (first
    event accepted → last visible), and the most events per second that allows on the cores."""
    per_event, cores = r["cpu_per_event_us"], r["cores"]
    most = cores * 1e6 / max(per_event, 1e-9)
    return f"{per_event:,.0f} µs of CPU per event in all processes and the broker: {cores} cores allow ≤ {most:,.0f}/s"


def _eps(value: float) -> str:
    return f"{value:,.0f}/s"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _engine(r: dict[str, Any], engines: tuple[str, ...]) -> str:
    return f" [{r['engine']} engine]" if engines else ""


#: Issue 15's ingest targets by engine (Faust: twice the 3,612/s of the bench before it).
INGEST_TARGETS = {"aiokafka": ("≥ 40k/s", 40_000.0), "faust": ("≥ 7,224/s (2× 3,612)", 7_224.0)}


def table_rows(res: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    engines: tuple[str, ...] = tuple(res.get("engines", ()))
    if norm := res.get("normalizer"):
        rows.append(
            Row(
                f"normalizer, events/s on one core (JSON → framed Avro, {norm['n']:,.0f} events, best of "
                f"{res['normalizer_rounds']} rounds, CPU time)",
                _eps(norm["ours_eps"]),
                f"{_eps(norm['fastavro_eps'])} (fastavro schemaless_writer alone, same records)",
                f"{norm['ratio']:.2f}",
                "≥ 100k/s and ≥ 0.6",
                _verdict(norm["ours_eps"] >= 100_000 and norm["ratio"] >= 0.6),
            )
        )
    if land := res.get("landing"):
        if "error" in land:
            rows.append(Row("landing, CPU per row of the sink's insert", f"failed: {land['error']}", "—", "—"))
        else:
            rows.append(
                Row(
                    f"landing, CPU per row of the sink's insert into the embedded store ({land['rows']:,} rows in "
                    f"{land['block']:,}-row Avro blocks, the whole process, best of 2): the log table and the views "
                    "that follow it",
                    f"{land['views_us']:.1f} µs/row (the filter keys' view alone {land['keys_us']:.1f} µs/row)",
                    f"{land['log_only_us']:.1f} µs/row (the log table alone, no view)",
                    f"{land['log_only_us'] / land['views_us']:.2f}",
                )
            )
    one_process: dict[str, float] = {}
    for r in res.get("e2e", []):
        n = r.get("processes", 1)
        procs = f"{n} normalizer process{'es' if n > 1 else ''}"
        target, floor = INGEST_TARGETS.get(r["engine"], ("—", 0.0))
        if "error" in r:
            what = f"end-to-end ingest{_engine(r, engines)}, {procs}"
            rows.append(Row(what, f"failed: {r['error']}", "—", "—", target, "ERROR"))
            continue
        c = r["ceiling"]
        ratio = r["eps"] / c["eps"]
        what = (
            f"end-to-end ingest{_engine(r, engines)}, {procs} (`actionlog worker --processes {n}`), "
            f"N = {r['n']:,} pre-loaded: first event accepted → all N in the report"
        )
        ours = (
            f"{_eps(r['eps'])} ({_eps(r['eps_from_start'])} from worker start; "
            f"{r['startup_s']:.1f}s to the first event; {r['duplicates_landed']:,.0f} duplicate rows landed; "
            f"{cpu_budget_text(r)})"
        )
        ceiling = f"{_eps(c['eps'])} (bare aiokafka consumer, same N, first message → N-th)"
        scale = ""
        if n == 1:
            one_process[r["engine"]] = r["eps"]
        elif base := one_process.get(r["engine"]):
            scale = f"; × {r['eps'] / base:.2f} of one process"
        rows.append(Row(what, ours, ceiling, f"{ratio:.3f}{scale}", target, _verdict(r["eps"] >= floor)))
    for f in res.get("freshness", []):
        if "error" in f:
            what = f"freshness{_engine(f, engines)} at a steady {f['rate']:,.0f} events/s"
            rows.append(Row(what, f"failed: {f['error']}", "—", "—", "—", "ERROR"))
            continue
        what = (
            f"freshness{_engine(f, engines)} at a steady {f['rate']:,.0f} events/s for {f['seconds']:.0f}s "
            f"(publish → visible, p50 / p99)"
        )
        steady = "sustained" if f["sustained"] else "NOT sustained"
        ours = (
            f"{f['p50_ms']:,.0f} / {f['p99_ms']:,.0f} ms ({steady}: backlog {f['lag_at_end']:,.0f} when publishing "
            f"stopped, drained in {f['drain_s']:.1f}s; first 5 s p50 {f['first_5s_p50_ms']:,.0f} ms, last 5 s "
            f"{f['last_5s_p50_ms']:,.0f} ms)"
        )
        ceiling = f"{f['kafka_p50_ms']:,.0f} / {f['kafka_p99_ms']:,.0f} ms (publish → a bare consumer receives it)"
        rows.append(Row(what, ours, ceiling, f"{f['kafka_p50_ms'] / max(f['p50_ms'], 1e-9):.3f}"))
    store = res.get("store")
    for name, r in res.get("reports", {}).items():
        first = r["params"].get("limit", ["?"])[0]
        span = "all time" if r["params"].get("from") == ["1990-01-01"] else "30 days"
        rows.append(
            Row(
                f"report, {name}, {span}, first {first} rows ({r['rows']:,} returned, {r['statements']} statements), "
                f"{store['rows']:,} rows, p50 / p95 over {r['runs']} runs (report_chunks, CSV)",
                f"{r['ours_p50']:,.0f} / {r['ours_p95']:,.0f} ms",
                f"{r['direct_p50']:,.0f} / {r['direct_p95']:,.0f} ms (the same statements, client directly)",
                f"{r['direct_p50'] / r['ours_p50']:.2f}",
                "p50 ≤ 100 ms",
                _verdict(r["ours_p50"] <= 100),
            )
        )
    if ex := res.get("export"):
        o, c = ex["ours"], ex["ceiling"]
        ours_rate, ceiling_rate = ex["rows"] / o["seconds"], ex["rows"] / c["seconds"]
        rows.append(
            Row(
                f"full export of {ex['rows']:,} rows to CSV (`actionlog report --format csv --output FILE`, "
                f"whole process)",
                f"{_eps(ours_rate)} rows, peak RSS {o['max_rss_mb']:,.0f} MB ({ex['bytes'] / 1e6:,.0f} MB file)",
                f"{_eps(ceiling_rate)} rows, peak RSS {c['max_rss_mb']:,.0f} MB (engine's own CSV of the same SQL, "
                f"read and discarded, whole process)",
                f"{ours_rate / ceiling_rate:.2f}",
                "≥ 0.7 and RSS < 300 MB",
                _verdict(ours_rate / ceiling_rate >= 0.7 and o["max_rss_mb"] < 300),
            )
        )
    rows.extend(_serve_rows(res.get("serve")))
    return rows


def _serve_rows(sv: dict[str, Any] | None) -> list[Row]:
    """The big store served by a worker: the export through it, the report page's figures."""
    if not sv:
        return []
    if "error" in sv:
        return [Row("the big store served by a worker", f"failed: {sv['error']}", "—", "—", "—", "ERROR")]
    ex, n = sv["export"], f"{sv['rows']:,}"
    out = [
        Row(
            f"export of {n} rows through a running worker (`actionlog report --format csv --output FILE`, "
            "the worker holds the store): the exporting process's peak RSS",
            f"{ex['max_rss_mb']:,.0f} MB ({ex['rows_written']:,} rows in {ex['seconds']:.1f} s)",
            f"the worker's own peak RSS {sv['worker_peak_mb']:,.0f} MB ({sv['worker_peak_before_mb']:,.0f} MB "
            "before the export)",
            "—",
            "< 100 MB",
            _verdict(ex["max_rss_mb"] < 100),
        )
    ]
    if po := sv.get("page_open"):
        if "error" in po:
            out.append(
                Row("report page open → first rows rendered", f"failed: {po['error']}", "—", "—", "≤ 500 ms", "ERROR")
            )
        else:
            out.append(
                Row(
                    f"report page open → first rows rendered (Chromium, {n} rows, defaults), p50 over {po['runs']}",
                    f"{po['p50_ms']:,.0f} ms (max {po['max_ms']:,.0f})",
                    "—",
                    "—",
                    "p50 ≤ 500 ms",
                    _verdict(po["p50_ms"] <= 500),
                )
            )
    for kind, r in sv.get("choices", {}).items():
        out.append(
            Row(
                f"choice list `choices/{kind}` over HTTP ({n} rows), p50 over {r['runs']}",
                f"{r['p50_ms']:,.0f} ms (max {r['max_ms']:,.0f})",
                "—",
                "—",
                "p50 ≤ 100 ms",
                _verdict(r["p50_ms"] <= 100),
            )
        )
    for name, r in sv.get("next_pages", {}).items():
        out.append(
            Row(
                f"next page (`limit=50` + `cursor`) over HTTP, {name} ({n} rows), p50 over {r['runs']}",
                f"{r['p50_ms']:,.0f} ms (max {r['max_ms']:,.0f})",
                "—",
                "—",
                "p50 ≤ 100 ms",
                _verdict(r["p50_ms"] <= 100),
            )
        )
    return out


def render_table(rows: list[Row]) -> str:
    lines = [
        "| what | ours | ceiling in the same run | ratio | target | |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.what} | {r.ours} | {r.ceiling} | {r.ratio} | {r.target} | {r.verdict} |" for r in rows]
    return "\n".join(lines)


def render(res: dict[str, Any], rows: list[Row]) -> str:
    """The whole results.md."""
    out = [
        "# actionlog bench results",
        "",
        f"- date: {res['started']} (took {res['elapsed_s'] / 60:.1f} min)",
        f"- machine: {res['machine']}",
        f"- command: `{res['command']}` ({res['mode']} mode)",
        f"- load average (1/5/15 min) at the start: {res['load_start']}, at the end: {res['load_end']} "
        "(the machine is shared: anything else running shows here and slows the figures down)",
        "",
        render_table(rows),
        "",
        "## How each figure was measured",
        "",
        *[f"- {note}" for note in res.get("notes", [])],
        "",
    ]
    extra = res.get("details", [])
    if extra:
        out += ["## Details", "", *[f"- {d}" for d in extra], ""]
    profiles = res.get("profiles", [])
    analysis = res.get("analysis", [])
    if profiles or analysis:
        out += ["## Where the time goes", ""]
        out += analysis
        if analysis:
            out.append("")
        for title, summary in profiles:
            out += profile_markdown(title, summary)
    return "\n".join(out).rstrip() + "\n"
