"""py-spy on a running worker: record raw stacks, then summarize where the time goes."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")
_FRAME = re.compile(r"^(.*?) \((.*?)(?::\d+)?\)$")


class Profiler:
    """``py-spy record --format raw`` attached to ``pid`` (non-blocking: the worker is not paused)."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        self.pid = pid
        self.out = out
        self.rate = rate
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Profiler:
        exe = shutil.which("py-spy")
        if exe is None:
            raise RuntimeError("py-spy is not installed")
        self._proc = subprocess.Popen(
            [exe, "record", "--nonblocking", "--format", "raw", "--rate", str(self.rate), "--threads",
             "--pid", str(self.pid), "--output", str(self.out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def record_command(cmd: list[str], out: Path, env: dict[str, str], cwd: Path) -> None:
    """Run ``cmd`` under ``py-spy record`` (raw stacks into ``out``) until it exits."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("py-spy is not installed")
    subprocess.run(
        [exe, "record", "--nonblocking", "--format", "raw", "--rate", "100", "--output", str(out), "--", *cmd],
        env=env,
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _short(frame: str) -> str:
    """``func (pkg/module.py:12)`` -> ``func (pkg/module.py)`` (py-spy already shortens paths)."""
    m = _FRAME.match(frame.strip())
    return f"{m.group(1)} ({m.group(2)})" if m else frame.strip()


def package(frame: str) -> str:
    """The package a frame's code belongs to: ``faust``, ``aiokafka``, ``asyncio``, ``processor``…"""
    m = _FRAME.match(frame.strip())
    path = m.group(2) if m else frame
    if path.startswith("<frozen "):
        return path.strip("<>").split()[1].split(".")[0].lstrip("_")
    return path.split("/", 1)[0].removesuffix(".py")


def summarize(raw: Path, top: int = 12) -> dict[str, list[tuple[str, float]]]:
    """Top frames by self time and by inclusive time (percent of all samples), self time per package,
    and time per thread."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    importers: Counter[str] = Counter()  # who triggered imports while the process was running
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        stack, count = m.group(1).split(";"), int(m.group(2))
        total += count
        if stack and stack[0].startswith("thread ("):
            threads[stack[0]] += count
            stack = stack[1:]
        if not stack:
            continue
        packages[package(stack[-1])] += count
        first_import = next((i for i, f in enumerate(stack) if "<frozen importlib" in f), None)
        if first_import:
            importers[_short(stack[first_import - 1])] += count
        frames = [_short(f) for f in stack]
        self_time[frames[-1]] += count
        for f in set(frames):
            inclusive[f] += count
    if not total:
        return {"self": [], "inclusive": [], "packages": [], "threads": [], "importers": []}

    def pct(counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(name, 100.0 * c / total) for name, c in counter.most_common(n)]

    ours = Counter({k: v for k, v in inclusive.items() if _is_ours(k)})
    return {
        "self": pct(self_time, top),
        "inclusive": pct(ours, top),
        "packages": pct(packages, 10),
        "importers": pct(importers, 3),
        "threads": pct(threads, 6),
        "samples": [("samples", float(total))],
    }


#: The entry-point chain (CLI → worker): inclusive of everything, so not informative.
_ENTRY = ("(actionlog/cli.py)", "(actionlog/__main__.py)", "run_worker (actionlog/worker.py)")


def _is_ours(frame: str) -> bool:
    if any(entry in frame for entry in _ENTRY):
        return False
    return any(f"({pkg}/" in frame for pkg in ("processor", "sink", "query", "actionlog"))


def markdown(title: str, summary: dict[str, list[tuple[str, float]]]) -> list[str]:
    """A short markdown section of the top frames."""
    samples = int(summary.get("samples", [("", 0.0)])[0][1])
    lines = [
        f"#### {title}",
        "",
        f"{samples:,} samples at 100 Hz (non-blocking, idle excluded; Python threads only: the embedded "
        "engine's own threads are not sampled, its work done on a Python thread shows as the calling frame).",
        "",
    ]
    if summary["threads"]:
        lines.append("Threads: " + "; ".join(f"`{t}` {p:.0f}%" for t, p in summary["threads"]))
        lines.append("")
    if summary.get("packages"):
        lines.append("Self time by package: " + "; ".join(f"`{name}` {p:.0f}%" for name, p in summary["packages"]))
        lines.append("")
    if summary.get("importers"):
        lines.append(
            "Imports while running (modules loaded on first use): "
            + "; ".join(f"from `{name}` {p:.0f}%" for name, p in summary["importers"])
        )
        lines.append("")
    lines += ["| self time | % of samples |", "|---|---:|"]
    lines += [f"| `{name}` | {p:.1f} |" for name, p in summary["self"]]
    lines += ["", "| our code, inclusive | % of samples |", "|---|---:|"]
    lines += [f"| `{name}` | {p:.1f} |" for name, p in summary["inclusive"]]
    lines.append("")
    return lines
