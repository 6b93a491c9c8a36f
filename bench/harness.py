"""Process management for the bench: a private Kafka broker, pipeline namespaces, worker processes.

Everything here starts real processes the same way a user would (``scripts/kafka.sh``,
``python -m actionlog worker``) and cleans them up by pid, never by name.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from testkit.kafka import LocalBroker as Broker  # noqa: E402
from testkit.pipeline import Pipeline as Namespace  # noqa: E402

__all__ = [
    "ROOT",
    "Broker",
    "Namespace",
    "cpu_seconds",
    "engine_switch",
    "json_of_script",
    "loadavg",
    "machine",
    "say",
    "scrape",
]

# The bench's own producers/consumers: aiokafka's retry chatter (e.g. metadata of a topic created a
# moment ago) is not news here.
logging.getLogger("aiokafka").setLevel(logging.ERROR)


def json_of_script(script: Path, *args: str, timeout: float = 3600) -> Any:
    """Run a bench script in its own process (a chDB store, say, stays out of this one); return
    the JSON object on the last line it printed."""
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(args[:1])} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def say(message: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


_METRIC = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.eE+-]+|NaN)$")


def scrape(base_url: str, timeout: float = 5.0) -> dict[str, float]:
    """GET /metrics and sum each metric over its labels (``name`` -> value)."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=timeout) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _METRIC.match(line)
        if m and m.group(3) != "NaN":
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    """``N cores, X GiB RAM, CPU model, Python, kernel`` of this machine."""
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (
        f"{os.cpu_count()} cores ({model or platform.machine()}), {mem_kb / 1024 / 1024:.1f} GiB RAM, "
        f"Python {platform.python_version()}, Linux {platform.release()}"
    )


def loadavg() -> str:
    """The 1/5/15-minute load averages (other work on the machine shows here)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def engine_switch() -> tuple[str, ...]:
    """The normalizer engines to measure: both when settings know ACTIONLOG_PROCESSOR_ENGINE."""
    text = "".join(p.read_text() for p in (ROOT / "actionlog" / "core" / "settings").glob("*.py"))
    return ("faust", "aiokafka") if "ACTIONLOG_PROCESSOR_ENGINE" in text else ()
