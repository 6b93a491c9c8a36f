"""The big store served by a running worker: the export through it (the exporting process's memory
beside the worker's own peak), the report page's figures (page open → first rows rendered in
Chromium, each choice list, the next page)."""

from __future__ import annotations

import os
import statistics
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from harness import Broker, Namespace, say
from report import FULL_RANGE, _count_lines, _timed

#: The choice lists the page asks for (``/reports/content-actions-log/choices/KIND``).
CHOICES = ("panoramas", "course-groups", "content-types", "types", "sources", "contents?q=intro&limit=20")
#: Reports whose second page is measured: the page's defaults (30 days, no filter), one learner over all time.
NEXT_PAGES = {
    "page defaults (30 days, no filter)": "limit=50",
    "one learner, all time": "limit=50&from=1990-01-01&to=2100-01-01&learner=u-42",
}
REPORT = "/reports/content-actions-log"


def _vm_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _get(url: str, token: str) -> tuple[float, bytes, str | None]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
        link = response.headers.get("Link")
    return (time.perf_counter() - started) * 1000, body, link


def _p50(fn: Any, runs: int) -> dict[str, float]:
    fn()  # warm-up
    times = sorted(fn() for _ in range(runs))
    return {"p50_ms": statistics.median(times), "max_ms": times[-1], "runs": runs}


def _next_url(link: str | None) -> str:
    if not link:
        raise RuntimeError("the first page has no next page")
    return link.split(";", 1)[0].strip("<> ")


def _page_open(url: str, token: str, runs: int) -> dict[str, Any]:
    """Chromium (Playwright): ``goto`` of the report page → its first row rendered, ``runs`` times."""
    from testkit.browser import launch, signed_in

    with launch() as browser:
        page = signed_in(browser, url, token)  # lands on the list of reports
        page.goto(f"{url}/ui/reports/content-actions-log")
        page.wait_for_selector("#rows tr", timeout=60_000)

        def once() -> float:
            started = time.perf_counter()
            page.goto(f"{url}/ui/reports/content-actions-log")
            page.wait_for_selector("#rows tr", timeout=60_000)
            return (time.perf_counter() - started) * 1000

        result = _p50(once, runs)
        result["rows_rendered"] = page.locator("#rows tr").count()
    return result


def serve_figures(broker: Broker, tmp: Path, store: Path, rows: int, runs: int) -> dict[str, Any]:
    """Start a worker on ``store`` (the bench's big store) and measure through it."""
    ns = Namespace(broker.bootstrap, tmp / "ns-serve", vars={"CLICKHOUSE_URL": f"chdb://{store}"})
    say(f"serving the {rows:,}-row store with a worker")
    proc = ns.start_worker(loglevel="warning")
    out: dict[str, Any] = {"rows": rows}
    try:
        url = ns.wait_http(timeout=300)
        ns.wait_link(timeout=300)
        # A store kept between runs (--store) keeps the previous run's token: a fresh one each run.
        name = f"bench-{os.getpid()}-{int(time.time())}"
        made = ns.run("tokens", "create", "--name", name, "--admin")
        if made.returncode != 0:
            raise RuntimeError(made.stderr.decode().strip())
        token = made.stdout.decode().strip()
        out["worker_peak_before_mb"] = _vm_kb(proc.pid, "VmHWM") / 1024
        target = tmp / "export-through-worker.csv"
        say(f"export through the worker: actionlog report --format csv --output {target}")
        actionlog = str(Path(sys.executable).with_name("actionlog"))
        env = {**os.environ, **ns.vars}
        ours = _timed([actionlog, "report", "--format", "csv", "--output", str(target), *FULL_RANGE], env)
        out["export"] = {**ours, "rows_written": _count_lines(target) - 1, "bytes": target.stat().st_size}
        target.unlink()
        out["worker_peak_mb"] = _vm_kb(proc.pid, "VmHWM") / 1024
        out["worker_rss_after_mb"] = _vm_kb(proc.pid, "VmRSS") / 1024
        say(
            f"  {out['export']['rows_written']:,} rows in {ours['seconds']:.1f}s, exporting process peak "
            f"{ours['max_rss_mb']:,.0f} MB; worker peak {out['worker_peak_mb']:,.0f} MB "
            f"({out['worker_peak_before_mb']:,.0f} MB before)"
        )
        out["choices"] = {}
        for kind in CHOICES:
            out["choices"][kind] = _p50(lambda k=kind: _get(f"{url}{REPORT}/choices/{k}", token)[0], runs)
            say(f"  choices/{kind}: p50 {out['choices'][kind]['p50_ms']:.0f} ms")
        out["next_pages"] = {}
        for name, query in NEXT_PAGES.items():
            _, _, link = _get(f"{url}{REPORT}?{query}", token)
            nxt = _next_url(link)
            if nxt.startswith("/"):
                nxt = urllib.parse.urljoin(url, nxt)
            out["next_pages"][name] = _p50(lambda u=nxt: _get(u, token)[0], runs)
            say(f"  next page, {name}: p50 {out['next_pages'][name]['p50_ms']:.0f} ms")
        try:
            out["page_open"] = _page_open(url, token, runs)
            say(f"  page open → first rows rendered: p50 {out['page_open']['p50_ms']:.0f} ms")
        except Exception as exc:  # no Chromium here: say so in the results, keep the rest
            out["page_open"] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    finally:
        ns.stop_workers()
    return out
