"""Plain-words reading of the measurements for the "where the time goes" section of results.md."""

from __future__ import annotations

from typing import Any


def _cpu_per_event_us(r: dict[str, Any]) -> float:
    return 1e6 * sum(r["worker_cpu_s"]) / r["n"]


def explain(res: dict[str, Any]) -> list[str]:
    out: list[str] = []
    norm = res.get("normalizer")
    for r in res.get("e2e", []):
        if "error" in r or r.get("processes", 1) != 1 or (r["eps"] >= 30_000 and r["eps"] / r["ceiling"]["eps"] >= 0.3):
            continue
        busy = sum(r["worker_cpu_s"]) / r["seconds_from_start"]
        per_event = _cpu_per_event_us(r)
        line = (
            f"- end-to-end ({r['engine']} engine, one worker): {r['eps']:,.0f} events/s against a bare consumer's "
            f"{r['ceiling']['eps']:,.0f}/s. The worker process used {busy:.0%} of one core for the whole run "
            f"(~{per_event:,.0f} µs of CPU per event, everything included: consuming, normalizing, producing, "
            "the sink's consume + decode + insert, HTTP/metrics). "
        )
        if norm:
            step = 1e6 / norm["ours_eps"] + 1e6 / norm["decode_eps"]
            line += (
                f"Normalize + encode + the sink's decode cost only ~{step:.0f} µs per event on their own "
                f"({step / per_event:.0%} of it), so the rest is the framework around them: see the py-spy "
                "profile below."
            )
        line += _profile_highlights(res, f"({r['engine']} engine)")
        out.append(line)
    ok = [r for r in res.get("e2e", []) if "error" not in r]
    for r in (r for r in ok if r.get("processes", 1) == 2):
        base = next((x for x in ok if x.get("processes", 1) == 1 and x["engine"] == r["engine"]), None)
        if base:
            norm = sum(r.get("normalizer_cpu_s", [])) / r["seconds_from_start"]
            out.append(
                f"- two normalizer processes ({r['engine']}): {r['eps']:,.0f}/s, × {r['eps'] / base['eps']:.2f} of one "
                f"process, on a machine with {res['machine'].split(' ')[0]} cores shared with the broker and the "
                f"embedded engine (broker {r['broker_cpu_s'] / r['seconds_from_start']:.0%} of a core, the two "
                f"normalizers {norm:.0%}, the worker that lands and serves "
                f"{sum(r['worker_cpu_s']) / r['seconds_from_start']:.0%}); {r['duplicates_landed']:,.0f} duplicate "
                "rows landed (collapsed by FINAL)."
            )
    for f in res.get("freshness", []):
        if f.get("sustained"):
            out.append(
                f"- freshness at {f['rate']:,.0f}/s ({f['engine']}): p50 {f['p50_ms']:,.0f} ms against Kafka's own "
                f"{f['kafka_p50_ms']:,.0f} ms: the latency is the batching by design — the sink flushes every "
                "0.5 s (ACTIONLOG_SINK_BATCH_SECONDS) or 10,000 rows, the normalizer takes batches of up to 1,000 "
                f"within 0.05 s, and each insert takes ~{f['mean_insert_ms']:.0f} ms."
            )
            break
    for name, r in res.get("reports", {}).items():
        if r["ours_p50"] <= 100:
            continue
        inside = r["direct_p50"] / r["ours_p50"]
        out.append(
            f"- report `{name}`: {r['ours_p50']:,.0f} ms through our code, {r['direct_p50']:,.0f} ms for its "
            f"{r['statements']} statements on the client directly ({inside:.0%} of the time inside ClickHouse)."
        )
    ex = res.get("export")
    if ex and ex["ours"]["max_rss_mb"] >= 300:
        out.append(
            f"- export peak RSS {ex['ours']['max_rss_mb']:,.0f} MB: chDB runs inside the `actionlog report` process, "
            f"so its memory counts; the engine alone on the same SQL peaks at {ex['ceiling']['max_rss_mb']:,.0f} MB "
            "(reading, FINAL's merge and the whole-range `ORDER BY occurred_at DESC, event_id`), and a "
            f"process that only opens the store and runs `SELECT 1` already peaks at "
            f"{ex['baseline']['max_rss_mb']:,.0f} MB. Python itself holds one 1 MiB chunk at a time."
        )
    if ex and ex["rows"] / ex["ours"]["seconds"] < 0.7 * ex["rows"] / ex["ceiling"]["seconds"]:
        so = ex.get("ours_stdout")
        extra = f" (to stdout > /dev/null: {ex['rows'] / so['seconds']:,.0f} rows/s)" if so else ""
        out.append(
            f"- export rate: {ex['rows'] / ex['ours']['seconds']:,.0f} rows/s to a file against the engine's "
            f"{ex['rows'] / ex['ceiling']['seconds']:,.0f} rows/s to nowhere{extra}; CPU {ex['ours']['cpu_s']:.1f} s "
            f"against the engine's {ex['ceiling']['cpu_s']:.1f} s for the same {ex['bytes'] / 1e6:,.0f} MB."
            + _export_profile(res)
        )
    return out


def _export_profile(res: dict[str, Any]) -> str:
    for title, summary in res.get("profiles", []):
        if "actionlog report" in title and summary.get("self"):
            top = "; ".join(f"`{name}` {p:.0f}%" for name, p in summary["self"][:4])
            return f" py-spy of that process (below), top self time: {top}."
    return ""


def _profile_highlights(res: dict[str, Any], marker: str) -> str:
    for title, summary in res.get("profiles", []):
        if marker not in title or not summary.get("self"):
            continue
        top = "; ".join(f"`{name}` {p:.0f}%" for name, p in summary["self"][:4])
        packages = "; ".join(f"{name} {p:.0f}%" for name, p in summary.get("packages", [])[:5])
        text = f" Top self time: {top}. By package: {packages}."
        for name, p in summary.get("importers", [])[:1]:
            if p >= 2:
                text += (
                    f" {p:.0f}% of the samples are imports triggered by `{name}` — a one-time stall of the "
                    "sink at its first insert, not a steady cost."
                )
        return text
    return ""
