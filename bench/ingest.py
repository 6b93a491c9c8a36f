"""End-to-end ingest: pre-loaded events through one or two workers, a bare consumer as the ceiling,
and freshness (publish → visible) at a steady publish rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from harness import Broker, Namespace, cpu_seconds, say, scrape
from profiler import Profiler

from actionlog.kafka.topics import ensure_topics
from testkit.events import events

#: (action type, key, value) of one upstream message.
Message = tuple[str, bytes, bytes]
ALL_TIME = "from=1990-01-01&to=2100-01-01"


def make_payload(n: int, seed: int = 7) -> list[Message]:
    """``n`` realistic upstream events (testkit.events: the catalog's mix, 30 days)."""
    return [(g.action_type, g.event_id.encode(), g.encode()) for g in events(n, seed=seed, days=30)]


async def _produce(bootstrap: str, topic_by_type: dict[str, str], payload: list[Message]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1 << 20, compression_type=None
    )
    await producer.start()
    try:
        for i in range(0, len(payload), 20_000):
            futures = [await producer.send(topic_by_type[t], v, key=k) for t, k, v in payload[i : i + 20_000]]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


def preload(ns: Namespace, payload: list[Message]) -> float:
    """Create the namespace's topics and publish ``payload`` into its 4 input topics; returns seconds."""
    started = time.monotonic()
    asyncio.run(ensure_topics(ns.settings.kafka))
    asyncio.run(_produce(ns.bootstrap, ns.topic_by_type(), payload))
    return time.monotonic() - started


async def _bare_consume(bootstrap: str, topics: list[str], n: int) -> dict[str, float]:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=10 * 1024 * 1024,  # as the normalizer's consumer
        fetch_max_bytes=64 * 1024 * 1024,
    )
    started = time.monotonic()
    await consumer.start()
    got = first_batch = 0
    first = 0.0
    try:
        while got < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for messages in batches.values():
                got += len(messages)  # doing nothing with them
            if got and not first:
                first, first_batch = time.monotonic(), got
    finally:
        done = time.monotonic()
        await consumer.stop()
    return {
        "n": got,
        "eps": (got - first_batch) / max(done - first, 1e-9),
        "eps_from_start": got / (done - started),
    }


def bare_consumer(ns: Namespace, n: int) -> dict[str, float]:
    """The ceiling: a bare aiokafka consumer reading the same ``n`` messages and doing nothing."""
    return asyncio.run(_bare_consume(ns.bootstrap, list(ns.settings.kafka.topics.inputs), n))


def report_rows(base_url: str, token: str) -> int:
    """Rows of the all-time report, read over the worker's HTTP endpoint (NDJSON: one per line)."""
    request = urllib.request.Request(
        f"{base_url}/reports/content-actions-log?{ALL_TIME}&format=ndjson", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=300) as r:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: r.read(1 << 20), b""))


def run_e2e(
    broker: Broker,
    tmp: Path,
    payload: list[Message],
    *,
    workers: int = 1,
    processes: int = 1,
    engine: str | None = None,
    profile: Path | None = None,
    timeout: float = 900,
) -> dict[str, Any]:
    """Pre-load ``payload``, start ``workers`` workers (the first with ``processes`` normalizer
    processes, ``ACTIONLOG_WORKER_PROCESSES``), time until every event is in the report.

    Times are taken from the first worker's start and from the first event accepted (metrics
    polled every 0.1 s on the worker that holds the store and lands everything).
    """
    n = len(payload)
    ns = Namespace(
        broker.bootstrap,
        tmp / f"ns-{uuid.uuid4().hex[:8]}",
        vars={
            "ACTIONLOG_METRICS_PUBLIC": "1",
            "ACTIONLOG_WORKER_PROCESSES": str(processes),
            **({"ACTIONLOG_PROCESSOR_ENGINE": engine} if engine else {}),
        },
    )
    say(f"e2e {engine or 'default'} x{workers} worker(s), {processes} process(es): pre-loading {n:,} events")
    load_s = preload(ns, payload)
    say(f"  pre-loaded in {load_s:.1f}s; bare consumer ceiling...")
    ceiling = bare_consumer(ns, n)
    say(f"  bare consumer {ceiling['eps']:,.0f}/s; starting worker(s)")
    broker_cpu0 = cpu_seconds(broker.pid() or 0)
    spawned = time.monotonic()
    first_proc = ns.start_worker(loglevel="warning")
    profiler: Profiler | None = None
    try:
        url = ns.wait_http()
        http_s = time.monotonic() - spawned
        token = ns.admin_token()
        for _ in range(workers - 1):
            ns.start_worker(loglevel="warning")  # finds the store held: joins as a normalizer only
        first = 0.0
        first_count = 0.0
        cpu_at_first = 0.0
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not all of {n:,} visible after {timeout}s\n{ns.worker_log()[-2000:]}")
            for proc in ns.workers:
                if proc.poll() is not None:
                    raise RuntimeError(f"a worker exited ({proc.returncode}):\n{ns.worker_log()[-2000:]}")
            m = scrape(url)
            landed = m.get("actionlog_sink_rows_total", 0.0)
            accepted = m.get("actionlog_events_accepted_total", 0.0)
            if not first and (accepted or landed):
                first, first_count = time.monotonic(), max(accepted, landed)
                cpu_at_first = _cpu_of(ns, broker)  # start-up spent: not a cost per event
                if profile is not None:  # from the first event on: start-up is not what we profile
                    profiler = Profiler(first_proc.pid, profile).start()
            if landed >= n:  # every event landed at least once: is each one in the report?
                asked = time.monotonic()
                visible = report_rows(url, token)
                if visible >= n:
                    done = asked  # the report's snapshot was taken after this instant
                    break
            time.sleep(0.1)
        if profiler is not None:
            profiler.stop()
        cpu = [cpu_seconds(p.pid) for p in ns.workers]
        cpu_normalizers = [cpu_seconds(pid) for p in ns.workers for pid in ns.normalizer_pids(p)]
        broker_cpu = cpu_seconds(broker.pid() or 0) - broker_cpu0
        cpu_from_first = _cpu_of(ns, broker) - cpu_at_first
        metrics = scrape(url)
    finally:
        if profiler is not None:
            profiler.stop()
        ns.stop_workers()
    wall = done - spawned
    result = {
        "engine": engine or "default",
        "workers": workers,
        "processes": processes,
        "normalizer_cpu_s": cpu_normalizers,
        "n": n,
        "seconds_from_start": wall,
        "seconds_from_first": done - first,
        "startup_s": first - spawned,
        "http_s": http_s,
        "eps": (n - first_count) / max(done - first, 1e-9),
        "eps_from_start": n / wall,
        "visible": visible,
        "rejected": metrics.get("actionlog_events_rejected_total", 0.0),
        "duplicates_landed": metrics.get("actionlog_sink_rows_total", 0.0) - n,
        "worker_cpu_s": cpu,
        "broker_cpu_s": broker_cpu,
        "ceiling": ceiling,
        "preload_s": load_s,
        "cores": os.cpu_count() or 1,
        "cpu_per_event_us": 1e6 * cpu_from_first / max(n - first_count, 1),
    }
    say(
        f"  {result['eps']:,.0f} events/s from first accepted ({result['eps_from_start']:,.0f}/s from start), "
        f"{visible:,} rows visible, worker CPU {', '.join(f'{c:.0f}s' for c in cpu)} over {wall:.0f}s"
    )
    if visible != n:
        say(f"  WARNING: the report shows {visible:,} rows, expected {n:,}")
    return result


def _cpu_of(ns: Namespace, broker: Broker) -> float:
    """CPU seconds so far of the workers, their normalizer processes and the broker."""
    pids = [p.pid for p in ns.workers] + [pid for p in ns.workers for pid in ns.normalizer_pids(p)]
    return sum(cpu_seconds(pid) for pid in pids) + cpu_seconds(broker.pid() or 0)


class _Steady:
    """Publishes at a steady rate, each event stamped with its publish time, while a bare consumer
    of the same input topics records publish → received (Kafka's own latency: the ceiling)."""

    def __init__(self, ns: Namespace, templates: list[Message], rate: float) -> None:
        self.ns, self.templates, self.rate = ns, templates, rate
        self.sent = 0
        self.since_ms = 1 << 62
        self.kafka_lag_ms: list[int] = []
        self.expected = 0

    async def _consume(self, ready: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            *self.ns.settings.kafka.topics.inputs,
            bootstrap_servers=self.ns.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        ready.set()
        seen = 0
        try:
            while not self.expected or seen < self.expected:
                batches = await consumer.getmany(timeout_ms=100)
                now = time.time_ns() // 1_000_000
                for messages in batches.values():
                    for m in messages:
                        seen += 1
                        stamp = orjson.loads(m.value)["occurred_at"]
                        if stamp >= self.since_ms:
                            self.kafka_lag_ms.append(now - stamp)
        finally:
            await consumer.stop()

    async def _publish(self, producer: AIOKafkaProducer, seconds: float) -> float:
        topic_by_type = self.ns.topic_by_type()
        pending: list[asyncio.Future[Any]] = []
        started = time.monotonic()
        base = self.sent
        while (elapsed := time.monotonic() - started) < seconds:
            due = base + min(int(self.rate * elapsed) + 1, int(self.rate * seconds))
            while self.sent < due:
                action_type, _, value = self.templates[self.sent % len(self.templates)]
                event = orjson.loads(value)
                event["event_id"] = f"fresh-{self.ns.tag}-{self.sent}"
                event["occurred_at"] = time.time_ns() // 1_000_000
                pending.append(await producer.send(topic_by_type[action_type], orjson.dumps(event)))
                self.sent += 1
            if len(pending) > 2000:
                await asyncio.gather(*pending)
                pending.clear()
            await asyncio.sleep(0.005)
        await asyncio.gather(*pending)
        return time.monotonic() - started

    async def run(self, url: str, warmup: float, seconds: float) -> dict[str, Any]:
        ready = asyncio.Event()
        consumer = asyncio.create_task(self._consume(ready))
        await ready.wait()
        producer = AIOKafkaProducer(bootstrap_servers=self.ns.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            # Warm-up: until the worker has landed its first rows (group joined, first insert done), plus
            # ``warmup`` seconds, so that start-up does not count as latency.
            landed_at = 0.0
            began = time.monotonic()
            while not landed_at or time.monotonic() - landed_at < warmup:
                await self._publish(producer, 0.5)
                if not landed_at and (await asyncio.to_thread(scrape, url)).get("actionlog_sink_rows_total"):
                    landed_at = time.monotonic()
                if time.monotonic() - began > 120:
                    raise RuntimeError("nothing landed after 120 s of warm-up")
            self.since_ms = time.time_ns() // 1_000_000
            base = await asyncio.to_thread(scrape, url)
            first_sent = self.sent
            publish_s = await self._publish(producer, seconds)
        finally:
            await producer.stop()
        end = await asyncio.to_thread(scrape, url)
        self.expected = self.sent
        await asyncio.wait_for(consumer, 60)
        return {
            "base": base,
            "sent": self.sent - first_sent,
            "publish_s": publish_s,
            "lag_at_end": self.sent - end.get("actionlog_sink_rows_total", 0.0),
        }


def _quantile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]) if ordered else float("nan")


def run_freshness(
    broker: Broker,
    tmp: Path,
    templates: list[Message],
    rate: float,
    seconds: float,
    *,
    engine: str | None = None,
    warmup: float = 3.0,
) -> dict[str, Any]:
    """Publish at a steady rate into a running worker; freshness from the rows' own stamps.

    Each event's ``occurred_at`` is its publish time (ms); the table's ``ingested_at`` is the
    server's clock when the sink's insert ran (same machine clock). After the run the store is
    opened in a subprocess and ``ingested_at - occurred_at`` plus the sink's mean insert time
    (from the worker's histogram) gives publish → visible, with no polling during the run.
    """
    from bigstore import run_json

    ns = Namespace(
        broker.bootstrap,
        tmp / f"ns-{uuid.uuid4().hex[:8]}",
        vars={"ACTIONLOG_METRICS_PUBLIC": "1", **({"ACTIONLOG_PROCESSOR_ENGINE": engine} if engine else {})},
    )
    asyncio.run(ensure_topics(ns.settings.kafka))
    ns.start_worker(loglevel="warning")
    steady = _Steady(ns, templates, rate)
    try:
        url = ns.wait_http()
        say(
            f"freshness {engine or 'default'}: {rate:,.0f} events/s, warm-up until rows land "
            f"+ {warmup:.0f}s, then {seconds:.0f}s"
        )
        pub = asyncio.run(steady.run(url, warmup, seconds))
        base = pub["base"]
        total = float(steady.sent)  # warm-up included; one worker lands no duplicates
        drained = time.monotonic()
        landed = 0.0
        while landed < total and time.monotonic() - drained < 120:
            landed = scrape(url).get("actionlog_sink_rows_total", 0.0)
            time.sleep(0.05)
        drain_s = time.monotonic() - drained
        m = scrape(url)
        inserts = m.get("actionlog_sink_batches_total", 0.0) - base.get("actionlog_sink_batches_total", 0.0)
        insert_sum = m.get("actionlog_sink_insert_seconds_sum", 0.0) - base.get("actionlog_sink_insert_seconds_sum", 0)
    finally:
        ns.stop_workers()
    mean_insert_ms = 1000 * insert_sum / max(inserts, 1)
    stats = run_json("freshness", str(ns.settings.clickhouse.chdb_path), "--since-ms", str(steady.since_ms))
    kafka = steady.kafka_lag_ms
    result = {
        "engine": engine or "default",
        "rate": rate,
        "achieved_rate": pub["sent"] / pub["publish_s"],
        "seconds": seconds,
        "sent": pub["sent"],
        "rows": stats["rows"],
        "lag_at_end": pub["lag_at_end"],
        "drain_s": drain_s,
        "mean_insert_ms": mean_insert_ms,
        "p50_ms": stats["p50_ms"] + mean_insert_ms,
        "p99_ms": stats["p99_ms"] + mean_insert_ms,
        "max_ms": stats["max_ms"] + mean_insert_ms,
        "first_5s_p50_ms": stats["first_p50_ms"] + mean_insert_ms,
        "last_5s_p50_ms": stats["last_p50_ms"] + mean_insert_ms,
        "kafka_p50_ms": _quantile(kafka, 0.5),
        "kafka_p99_ms": _quantile(kafka, 0.99),
        # Steady: little backlog when publishing stopped, drained fast, latency not climbing.
        "sustained": landed >= total
        and pub["lag_at_end"] <= 2.0 * rate
        and drain_s <= 3.0
        and stats["last_p50_ms"] <= stats["first_p50_ms"] + 1000,
    }
    say(
        f"  p50 {result['p50_ms']:,.0f} ms, p99 {result['p99_ms']:,.0f} ms (bare consumer p50 "
        f"{result['kafka_p50_ms']:,.0f} ms), backlog at end {pub['lag_at_end']:,.0f}, drained in {drain_s:.1f}s: "
        f"{'sustained' if result['sustained'] else 'NOT sustained'}"
    )
    with contextlib.suppress(OSError):
        (ns.tmp / "freshness.json").write_bytes(orjson.dumps(result))
    return result
