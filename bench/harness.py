"""Process management for the bench: a private Kafka broker, pipeline namespaces, worker processes.

Everything here starts real processes the same way a user would (``scripts/kafka.sh``,
``python -m actionlog worker``) and cleans them up by pid, never by name.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from actionlog.settings import Settings  # noqa: E402
from sink.store import worker_endpoint  # noqa: E402

KAFKA_SH = ROOT / "scripts" / "kafka.sh"
# The bench's own producers/consumers: aiokafka's retry chatter (e.g. metadata of a topic created a
# moment ago) is not news here.
logging.getLogger("aiokafka").setLevel(logging.ERROR)


def say(message: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Broker:
    """A Kafka broker of the bench's own, on its own port, reset before and after."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self._env = {**os.environ, "KAFKA_PORT": str(port)}

    def _kafka_sh(self, action: str) -> None:
        subprocess.run([str(KAFKA_SH), action], env=self._env, check=True, cwd=ROOT)

    def start(self) -> None:
        self._kafka_sh("reset")  # a stale broker or data of an earlier bench on this port
        self._kafka_sh("start")

    def stop(self) -> None:
        self._kafka_sh("reset")  # stops the broker and deletes its data

    def pid(self) -> int | None:
        try:
            return int((ROOT / ".cache" / "kafka" / f"run-{self.port}" / "kafka.pid").read_text())
        except (OSError, ValueError):
            return None

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Namespace:
    """One pipeline of its own: topics, consumer groups, HTTP port and chDB path (like the tests)."""

    bootstrap: str
    tmp: Path
    extra: dict[str, str] = field(default_factory=dict)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.dir = self.tmp / f"ns-{self.tag}"
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def vars(self) -> dict[str, str]:
        t = self.tag
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "CLICKHOUSE_URL": f"chdb://{self.dir / 'chdb'}",
            "ACTIONLOG_TOPIC_ENROLLMENTS": f"b{t}.lms.enrollments",
            "ACTIONLOG_TOPIC_STATUS_CHANGES": f"b{t}.lms.status-changes",
            "ACTIONLOG_TOPIC_ACCESS_REVOCATIONS": f"b{t}.lms.access-revocations",
            "ACTIONLOG_TOPIC_CERTIFICATE_GRANTS": f"b{t}.lms.certificate-grants",
            "ACTIONLOG_TOPIC_LOG": f"b{t}.content-actions-log",
            "ACTIONLOG_TOPIC_DLQ": f"b{t}.content-actions-log.dlq",
            "ACTIONLOG_PROCESSOR_APP_ID": f"b{t}-normalizer",
            "ACTIONLOG_SINK_GROUP_ID": f"b{t}-sink",
            "ACTIONLOG_HTTP_PORT": "0",
            **self.extra,
        }

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.vars)

    @property
    def chdb_path(self) -> Path:
        return self.dir / "chdb"

    def topic_by_type(self) -> dict[str, str]:
        return {v: k for k, v in self.settings.kafka.topics.type_by_topic.items()}

    def start_worker(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.dir / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "actionlog", "worker", "--loglevel", "warning", *args],
            env={**os.environ, **self.vars},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def wait_http(self, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.workers:
                if proc.poll() is not None:
                    raise RuntimeError(f"worker exited with {proc.returncode}: {self.worker_log()[-2000:]}")
            url = worker_endpoint(self.settings.clickhouse)
            if url:
                return url
            time.sleep(0.05)
        raise RuntimeError(f"no HTTP endpoint after {timeout}s: {self.worker_log()[-2000:]}")

    def worker_log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.dir.glob("worker-*.log")))

    def stop_workers(self, timeout: float = 30) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.workers.clear()


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
    text = (ROOT / "actionlog" / "settings.py").read_text()
    return ("faust", "aiokafka") if "ACTIONLOG_PROCESSOR_ENGINE" in text else ()
