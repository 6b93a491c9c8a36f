"""Helpers of the end-to-end drills: publish generated events, read the report, check exactly-once."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson

from tests.integration.conftest import Env
from tests.support.events import Generated, events

ALL_TIME = "from=1990-01-01&to=2100-01-01"


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
    """Publishes events in chunks at a steady pace, in the background."""

    def __init__(self, env: Env, gens: list[Generated], chunk: int = 2000, pause: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.env, self.gens, self.chunk, self.pause = env, gens, chunk, pause
        self.error: BaseException | None = None
        self.sent = 0

    def run(self) -> None:
        try:
            asyncio.run(self._go())
        except BaseException as exc:  # reported by join_ok
            self.error = exc

    async def _go(self) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=self.env.vars["KAFKA_BOOTSTRAP_SERVERS"],
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
                    await producer.send(self.env.topic(g.action_type), g.encode(), key=g.event_id.encode())
                    for g in self.gens[i : i + self.chunk]
                ]
                await asyncio.gather(*futures)
                self.sent += len(futures)
                await asyncio.sleep(self.pause)
        finally:
            await producer.stop()

    def join_ok(self, timeout: float = 600) -> None:
        self.join(timeout)
        assert not self.is_alive(), "publisher did not finish"
        assert self.error is None, f"publisher failed: {self.error!r}"


def report_via_http(base_url: str, extra: str = "") -> list[dict[str, Any]]:
    url = f"{base_url}/reports/content-actions-log?{ALL_TIME}&format=ndjson{extra}"
    with urllib.request.urlopen(url, timeout=120) as response:
        body = response.read()
    return [orjson.loads(line) for line in body.splitlines() if line]


def wait_landed(env: Env, n: int, timeout: float = 600) -> list[dict[str, Any]]:
    """Poll the running worker's report until it has ``n`` rows; returns them."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            rows = report_via_http(env.wait_http(timeout=120))
        except OSError:
            rows = []  # the worker is restarting
        if len(rows) >= n:
            return rows
        time.sleep(1.0)
    raise AssertionError(f"only {len(rows)} of {n} rows landed in {timeout}s\n{env.worker_log()[-3000:]}")


def assert_exactly_once(rows: list[dict[str, Any]], gens: list[Generated]) -> None:
    titles = Counter(r["content_title"] for r in rows)
    dupes = [t for t, c in titles.items() if c > 1]
    assert not dupes, f"{len(dupes)} events appear more than once, e.g. {dupes[:3]}"
    want = {g.event_id: expected_row(g) for g in gens}
    missing = set(want) - set(titles)
    extra = set(titles) - set(want)
    assert not missing and not extra, f"missing {len(missing)}, unexpected {len(extra)}"
    for r in rows:
        assert r == want[r["content_title"]]
