"""Integration fixtures: per-test topic names, producers, and workers run as real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from actionlog.settings import Settings
from sink.store import worker_endpoint

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


@dataclass
class Env:
    """The environment of one test's pipeline: unique topics, groups and store."""

    vars: dict[str, str]
    tmp: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.vars)

    def topic(self, action_type: str) -> str:
        by_type = {v: k for k, v in self.settings.kafka.topics.type_by_topic.items()}
        return by_type[action_type]

    def run(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        """Run the ``actionlog`` CLI with this environment."""
        return subprocess.run(
            [sys.executable, "-m", "actionlog", *args],
            env={**os.environ, **self.vars},
            capture_output=True,
            timeout=timeout,
            check=check,
            cwd=self.tmp,
        )

    def start_worker(self, **extra: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "actionlog", "worker", "--loglevel", "info"],
            env={**os.environ, **self.vars, **extra},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def wait_http(self, timeout: float = 60) -> str:
        def ready() -> str | None:
            for proc in self.workers:
                if proc.poll() is not None and proc.returncode not in (0, -9, -15):
                    pytest.fail(f"worker exited with {proc.returncode}: {self.worker_log()[-3000:]}")
            return worker_endpoint(self.settings.clickhouse)

        return str(wait_for(ready, timeout, what="the worker's HTTP endpoint"))

    def worker_log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("worker-*.log")))

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


@pytest.fixture
def env(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Env]:
    """A fresh pipeline namespace: topics, consumer groups, HTTP port and chDB path of its own."""
    tag = uuid.uuid4().hex[:10]
    variables = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}",
        "ACTIONLOG_TOPIC_ENROLLMENTS": f"t{tag}.lms.enrollments",
        "ACTIONLOG_TOPIC_STATUS_CHANGES": f"t{tag}.lms.status-changes",
        "ACTIONLOG_TOPIC_ACCESS_REVOCATIONS": f"t{tag}.lms.access-revocations",
        "ACTIONLOG_TOPIC_CERTIFICATE_GRANTS": f"t{tag}.lms.certificate-grants",
        "ACTIONLOG_TOPIC_LOG": f"t{tag}.content-actions-log",
        "ACTIONLOG_TOPIC_DLQ": f"t{tag}.content-actions-log.dlq",
        "ACTIONLOG_PROCESSOR_APP_ID": f"t{tag}-normalizer",
        "ACTIONLOG_SINK_GROUP_ID": f"t{tag}-sink",
        "ACTIONLOG_HTTP_PORT": "0",
    }
    e = Env(variables, tmp_path)
    yield e
    e.stop_workers()


Message = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None]


def produce(bootstrap: str, messages: list[Message]) -> list[Any]:
    """Publish (topic, key, value, headers) messages; returns their RecordMetadata, all acknowledged."""
    from aiokafka import AIOKafkaProducer

    async def go() -> list[Any]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=4 << 20)
        await producer.start()
        try:
            futures = [await producer.send(t, value=v, key=k, headers=h) for t, k, v, h in messages]
            return list(await asyncio.gather(*futures))
        finally:
            await producer.stop()

    return asyncio.run(go())


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 60) -> list[Any]:
    """Read ``topic`` from the beginning until ``expected`` messages arrived (or fail on timeout)."""
    from aiokafka import AIOKafkaConsumer

    async def go() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        out: list[Any] = []
        try:
            deadline = time.monotonic() + timeout
            while len(out) < expected and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for msgs in batch.values():
                    out.extend(msgs)
            # Linger briefly to catch anything beyond what we expected (it would be a bug).
            extra = await consumer.getmany(timeout_ms=1000)
            for msgs in extra.values():
                out.extend(msgs)
        finally:
            await consumer.stop()
        return out

    return asyncio.run(go())
