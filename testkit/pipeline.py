"""A pipeline namespace of its own (topics, groups, store, HTTP port) with real worker processes,
and the helpers of end-to-end checks: publish generated events, read the report, check exactly-once.
Used by the integration tests and the bench alike."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from actionlog.core.settings import Settings
from actionlog.store.holder import WorkerLink, read_link
from testkit.events import Generated, events

__all__ = [
    "ALL_TIME",
    "Pipeline",
    "Publisher",
    "assert_exactly_once",
    "drill_events",
    "expected_row",
    "http_get",
    "report_via_http",
    "wait_for",
    "wait_landed",
]

ALL_TIME = "from=1990-01-01&to=2100-01-01"


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Raises:
        AssertionError: still falsy after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def namespace_vars(bootstrap: str, directory: Path, tag: str) -> dict[str, str]:
    """Environment of a pipeline whose topics, groups and store are its own."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CLICKHOUSE_URL": f"chdb://{directory / 'chdb'}",
        "ACTIONLOG_TOPIC_ENROLLMENTS": f"t{tag}.lms.enrollments",
        "ACTIONLOG_TOPIC_STATUS_CHANGES": f"t{tag}.lms.status-changes",
        "ACTIONLOG_TOPIC_ACCESS_REVOCATIONS": f"t{tag}.lms.access-revocations",
        "ACTIONLOG_TOPIC_CERTIFICATE_GRANTS": f"t{tag}.lms.certificate-grants",
        "ACTIONLOG_TOPIC_LOG": f"t{tag}.content-actions-log",
        "ACTIONLOG_TOPIC_DLQ": f"t{tag}.content-actions-log.dlq",
        "ACTIONLOG_TOPIC_SET_ASIDE": f"t{tag}.content-actions-log.set-aside",
        "ACTIONLOG_PROCESSOR_APP_ID": f"t{tag}-normalizer",
        "ACTIONLOG_SINK_GROUP_ID": f"t{tag}-sink",
        "ACTIONLOG_HTTP_PORT": "0",
    }


@dataclass
class Pipeline:
    """One pipeline namespace, its CLI runs and its worker processes.

    Attributes:
        vars: the namespace's environment (change it before starting a worker).
        tmp: a directory of its own (store, logs, working directory of the processes).
    """

    bootstrap: str
    tmp: Path
    vars: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.tag = uuid.uuid4().hex[:10]
        self.vars = {**namespace_vars(self.bootstrap, self.tmp, self.tag), **self.vars}

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.vars)

    def topic_by_type(self) -> dict[str, str]:
        return {v: k for k, v in self.settings.kafka.topics.type_by_topic.items()}

    def topic(self, action_type: str) -> str:
        return self.topic_by_type()[action_type]

    def run(self, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[bytes]:
        """Run the ``actionlog`` CLI with this environment (never raises on its exit code)."""
        return subprocess.run(
            [sys.executable, "-m", "actionlog", *args],
            env={**os.environ, **self.vars, **extra},
            capture_output=True,
            timeout=timeout,
            cwd=self.tmp,
        )

    def start_worker(self, *args: str, loglevel: str = "info", **extra: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "actionlog", "worker", "--loglevel", loglevel, *args],
            env={**os.environ, **self.vars, **extra},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def admin_token(self) -> str:
        """An admin token of this namespace, created once (through the CLI, as a user would)."""
        token = getattr(self, "_admin_token", None)
        if token is None:
            res = self.run("tokens", "create", "--name", "test-admin", "--admin")
            assert res.returncode == 0, res.stderr.decode()
            token = res.stdout.decode().strip()
            self._admin_token = token
        return str(token)

    def wait_http(self, timeout: float = 90) -> str:
        """The public base URL of the worker holding the store, once it serves."""

        def ready() -> str | None:
            for proc in self.workers:
                if proc.poll() is not None and proc.returncode not in (0, -9, -15):
                    raise AssertionError(f"worker exited with {proc.returncode}: {self.worker_log()[-3000:]}")
            link = read_link(self.settings.clickhouse.chdb_path)
            return link.public_url if link is not None and link.public_url else None

        return str(wait_for(ready, timeout, interval=0.05, what="the worker's HTTP endpoint"))

    def wait_link(self, timeout: float = 90) -> WorkerLink:
        """The link of the worker holding the store, once it serves local clients (public HTTP or not)."""

        def ready() -> WorkerLink | None:
            for proc in self.workers:
                if proc.poll() is not None and proc.returncode not in (0, -9, -15):
                    raise AssertionError(f"worker exited with {proc.returncode}: {self.worker_log()[-3000:]}")
            return read_link(self.settings.clickhouse.chdb_path)

        link: WorkerLink = wait_for(ready, timeout, interval=0.05, what="the worker's local listener")
        return link

    def worker_log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("worker-*.log")))

    @staticmethod
    def normalizer_pids(proc: subprocess.Popen[bytes]) -> list[int]:
        """Pids of the normalizer processes a worker started (``ACTIONLOG_WORKER_PROCESSES`` > 1)."""
        pids = []
        for children in Path(f"/proc/{proc.pid}/task").glob("*/children"):
            for pid in children.read_text().split():
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue  # gone meanwhile
                if b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline:
                    pids.append(int(pid))
        return sorted(pids)

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)

    def stop_workers(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(sig)
        for proc in self.workers:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.workers.clear()


def drill_events(n: int, seed: int = 11) -> list[Generated]:
    """Valid events whose title is their event_id, so that report rows identify their event."""
    out = []
    for g in events(n, seed=seed, days=400):
        g.event["content"]["title"] = g.event_id
        out.append(g)
    return out


def expected_row(g: Generated) -> dict[str, str]:
    """The report row of an event, computed from the event itself (independently of the code)."""
    e = g.event
    stamp = datetime.fromtimestamp(g.occurred_ms / 1000, tz=UTC)
    return {
        "email": e["learner"]["email"].strip().lower(),
        "panorama_name": (e.get("panorama") or {}).get("name", ""),
        "content_type": e["content"]["type"].lower(),
        "content_title": e["content"]["title"],
        "type": g.action_type,
        "source": g.event["source"].lower().replace("-", "_"),
        "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{g.occurred_ms % 1000:03d}Z",
    }


class Publisher(threading.Thread):
    """Publishes events in chunks at a steady pace, in the background; `join_ok` checks it all went."""

    def __init__(self, pipeline: Pipeline, gens: list[Generated], chunk: int = 2000, pause: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pipeline, self.gens, self.chunk, self.pause = pipeline, gens, chunk, pause
        self.error: BaseException | None = None
        self.sent = 0

    def run(self) -> None:
        try:
            asyncio.run(self._go())
        except BaseException as exc:  # reported by join_ok
            self.error = exc

    async def _go(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.pipeline.bootstrap,
            acks="all",
            linger_ms=10,
            enable_idempotence=True,
            request_timeout_ms=120_000,
            retry_backoff_ms=500,
        )
        await producer.start()
        try:
            for i in range(0, len(self.gens), self.chunk):
                futures = [
                    await producer.send(self.pipeline.topic(g.action_type), g.encode(), key=g.event_id.encode())
                    for g in self.gens[i : i + self.chunk]
                ]
                await asyncio.gather(*futures)  # raises if any send failed
                self.sent += len(futures)
                await asyncio.sleep(self.pause)
        finally:
            await producer.stop()

    def join_ok(self, timeout: float = 600) -> None:
        self.join(timeout)
        assert not self.is_alive(), "publisher did not finish"
        assert self.error is None, f"publisher failed: {self.error!r}"
        assert self.sent == len(self.gens), f"published {self.sent} of {len(self.gens)}"


def http_get(url: str, token: str, timeout: float = 120) -> bytes:
    """GET ``url`` with ``Authorization: Bearer token``; the body (raises HTTPError on 4xx/5xx)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return bytes(response.read())


def report_via_http(base_url: str, token: str, extra: str = "", span: str = ALL_TIME) -> list[dict[str, Any]]:
    body = http_get(f"{base_url}/reports/content-actions-log?{span}&format=ndjson{extra}", token)
    return [orjson.loads(line) for line in body.splitlines() if line]


def wait_landed(pipeline: Pipeline, n: int, timeout: float = 600, span: str = ALL_TIME) -> list[dict[str, Any]]:
    """Poll the running worker's report (over ``span``) until it has ``n`` rows; returns them."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            base = pipeline.wait_http(timeout=120)
            rows = report_via_http(base, pipeline.admin_token(), span=span)
        except OSError:
            rows = []  # the worker is restarting
        if len(rows) >= n:
            return rows
        time.sleep(1.0)
    raise AssertionError(f"only {len(rows)} of {n} rows landed in {timeout}s\n{pipeline.worker_log()[-3000:]}")


def assert_exactly_once(rows: list[dict[str, Any]], gens: list[Generated]) -> None:
    """The report rows are exactly the events' rows, each once, with the right values."""
    titles = Counter(r["content_title"] for r in rows)
    dupes = [t for t, c in titles.items() if c > 1]
    assert not dupes, f"{len(dupes)} events appear more than once, e.g. {dupes[:3]}"
    want = {g.event_id: expected_row(g) for g in gens}
    missing = set(want) - set(titles)
    extra = set(titles) - set(want)
    assert not missing and not extra, f"missing {len(missing)}, unexpected {len(extra)}"
    for r in rows:
        assert r == want[r["content_title"]]
