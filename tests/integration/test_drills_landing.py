"""Drills of landing (docs/testing.md): no valid input, slow client or restart stops it.

Each drill runs real worker processes on the real broker and checks the report at the end:
exactly the published events, each once, with the right values.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from actionlog.core.avro import MAGIC, AvroCodec
from actionlog.core.dead_letters import parse_dead_letter, replay_count
from actionlog.store import open_store
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.holder import StoreLock
from actionlog.store.schema import ensure_log_schema
from testkit.events import Generated
from testkit.kafka import committed_offsets, consume_all, end_offsets, produce
from testkit.pipeline import (
    Pipeline,
    Publisher,
    assert_exactly_once,
    drill_events,
    http_get,
    report_via_http,
    wait_for,
    wait_landed,
)
from testkit.rows import land_many

pytestmark = [pytest.mark.integration, pytest.mark.drill]

EVERYTHING = "from=1970-01-01&to=2299-12-31"
RECENT = "from=2025-01-01&to=2026-12-31"  # the drill events' years, none of the bulk rows of 2020


def publish(env: Pipeline, gens: list[Generated]) -> None:
    publisher = Publisher(env, gens, chunk=500, pause=0)
    publisher.start()
    publisher.join_ok()


def at(g: Generated, occurred_ms: int) -> Generated:
    """The same event, happened at another moment (epoch ms, as upstream may send it)."""
    return dataclasses.replace(g, event={**g.event, "occurred_at": occurred_ms}, occurred_ms=occurred_ms)


def backfill(first: int, last: int, step: int, seed: int) -> list[Generated]:
    """One event every ``step`` months from January of ``first`` to December of ``last``."""
    months = [(y, m) for y in range(first, last + 1) for m in range(1, 13)]
    chosen = months[::step] + ([months[-1]] if (len(months) - 1) % step else [])
    gens = drill_events(len(chosen), seed=seed)
    return [
        at(g, int(datetime(y, m, 1 + i % 28, tzinfo=UTC).timestamp() * 1000) + i)
        for i, (g, (y, m)) in enumerate(zip(gens, chosen, strict=True))
    ]


def metric(env: Pipeline, base_url: str, name: str) -> float:
    text = http_get(f"{base_url}/metrics", env.admin_token(), timeout=30).decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def sink_at_end(env: Pipeline) -> bool:
    topic = env.vars["ACTIONLOG_TOPIC_LOG"]
    committed = committed_offsets(env.bootstrap, env.vars["ACTIONLOG_SINK_GROUP_ID"])
    return {p: o for (t, p), o in committed.items() if t == topic} == end_offsets(env.bootstrap, topic)


# ---------------------------------------------------------------- items 4 and 1


def test_kill_9_then_a_new_worker_at_once_holds_the_store_and_lands_a_backfill_from_1970_to_2299(
    env: Pipeline,
) -> None:
    first = env.start_worker()
    env.wait_http()
    before = drill_events(300, seed=16)
    publish(env, before)
    wait_landed(env, len(before), timeout=120)
    env.kill9(first)
    # At once: the killed worker's lock went with it, whatever files it left. Its sink gathers
    # batches for 2 s, so that the backfill below lands as one block that must be cut.
    env.start_worker(ACTIONLOG_SINK_BATCH_SECONDS="2")
    base = env.wait_http()
    log = env.worker_log()
    assert "only normalizes" not in log and "let go" not in log
    # A migration's backfill: one event every 30 months from 1970 to 2299, 133 table partitions,
    # more than one INSERT block may touch; with events of today, which must not wait behind it.
    old = backfill(1970, 2299, 30, seed=17)
    assert len(old) == 133
    after = drill_events(200, seed=18)
    publish(env, old + after)
    everything = before + old + after
    rows = wait_landed(env, len(everything), timeout=180, span=EVERYTHING)
    assert_exactly_once(rows, everything)
    assert metric(env, base, "actionlog_sink_insert_failures_total") == 0  # cut, never retried in front
    assert metric(env, base, "actionlog_sink_block_splits_total") >= 1


# ---------------------------------------------------------------- item 2


def test_rows_the_store_refuses_are_set_aside_counted_and_replayed(env: Pipeline) -> None:
    settings = env.settings
    with ClickHouseStore(settings.clickhouse).connect() as store:  # before the worker: the operator's rule
        ensure_log_schema(store, settings.clickhouse.database, settings.clickhouse.table)
        store.command(
            f"ALTER TABLE {store.log_table} ADD CONSTRAINT no_poison CHECK NOT startsWith(event_id, 'poison')"
        )
    env.start_worker(ACTIONLOG_SINK_MAX_BACKOFF="0.5")
    base = env.wait_http()
    gens = drill_events(2000, seed=19)
    poisoned = {7, 1000, 1999}
    for i in poisoned:  # valid events the store will refuse (title = event id, as in every drill)
        event_id = f"poison-{gens[i].event_id}"
        content = {**gens[i].event["content"], "title": event_id}
        gens[i] = dataclasses.replace(gens[i], event={**gens[i].event, "event_id": event_id, "content": content})
    codec = AvroCodec()
    log_topic, set_aside = env.vars["ACTIONLOG_TOPIC_LOG"], env.vars["ACTIONLOG_TOPIC_SET_ASIDE"]
    garbage = MAGIC + codec.fingerprint + b"\xff" * 40  # a log record nobody can read
    produce(env.bootstrap, [(log_topic, b"garbage", garbage, None)])
    publish(env, gens)

    fine = [g for i, g in enumerate(gens) if i not in poisoned]
    assert_exactly_once(wait_landed(env, len(fine), timeout=120), fine)
    letters = consume_all(env.bootstrap, set_aside, len(poisoned) + 1)
    assert len(letters) == len(poisoned) + 1
    reasons = sorted((parse_dead_letter(m.headers).reason or "", m.key) for m in letters)
    assert reasons == sorted([("refused", gens[i].event_id.encode()) for i in poisoned] + [("undecodable", b"garbage")])
    for m in letters:
        info = parse_dead_letter(m.headers)
        assert info.source_topic == log_topic and info.source_offset is not None
        assert (info.code == 469) == (info.reason == "refused")
    wait_for(lambda: sink_at_end(env), timeout=60, what="the sink to commit the whole log")
    assert metric(env, base, 'actionlog_sink_set_aside_total{reason="refused"}') == len(poisoned)
    assert metric(env, base, 'actionlog_sink_set_aside_total{reason="undecodable"}') == 1
    with urllib.request.urlopen(f"{base}/readyz", timeout=30) as response:
        assert json.loads(response.read())["status"] == "ready"

    # The operator drops the rule and replays what was set aside: the refused rows land, the
    # garbage is set aside again, counted as replayed once.
    store = open_store(settings.clickhouse)  # through the worker that holds it
    try:
        store.command(f"ALTER TABLE {store.log_table} DROP CONSTRAINT no_poison")
    finally:
        store.close()
    result = env.run("set-aside", "replay", "--reason", "refused", "--reason", "undecodable")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("replayed 4 (refused=3, undecodable=1)")
    assert_exactly_once(wait_landed(env, len(gens), timeout=120), gens)
    again = consume_all(env.bootstrap, set_aside, len(poisoned) + 2)
    assert len(again) == len(poisoned) + 2
    assert sorted(replay_count(m.headers) for m in again if m.value == garbage) == [0, 1]


# ---------------------------------------------------------------- item 3


class Download(threading.Thread):
    """A report download through a raw socket: ``rate`` bytes/s, or none after the headers."""

    def __init__(self, base_url: str, path: str, rate: int, token: str) -> None:
        super().__init__(daemon=True)
        host, port = base_url.removeprefix("http://").split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        self.sock.settimeout(120)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        self.rate = rate
        self.received = 0
        self.ended = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                if self.rate == 0 and self.received:
                    self.stop.wait(0.2)  # read the headers, then nothing at all
                    continue
                piece = self.sock.recv(1024)
                if not piece:
                    break
                self.received += len(piece)
                time.sleep(1024 / self.rate if self.rate else 0)
        except OSError:
            pass
        self.ended.set()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def test_a_slow_or_stalled_download_never_delays_landing(env: Pipeline) -> None:
    with ClickHouseStore(env.settings.clickhouse).connect() as store:
        land_many(store, 1_000_000, start_ms=int(datetime(2020, 3, 1, tzinfo=UTC).timestamp() * 1000))
    env.start_worker(ACTIONLOG_HTTP_WRITE_TIMEOUT="12")
    base = env.wait_http()
    warm = drill_events(1, seed=20)
    publish(env, warm)
    wait_landed(env, 1, timeout=60, span=RECENT)
    report = "/reports/content-actions-log?from=2020-01-01&to=2020-12-31"  # the million rows
    token = env.admin_token()
    slow, stalled = Download(base, report, 10_000, token), Download(base, report, 0, token)
    slow.start()
    stalled.start()
    wait_for(lambda: metric(env, base, "actionlog_http_downloads") == 2, timeout=60, what="both downloads open")
    gens = drill_events(6, seed=21)
    for i, g in enumerate(gens):  # one at a time, while one client reads at 10 KB/s and one not at all
        publish(env, [g])
        published = time.monotonic()
        title = g.event_id
        wait_for(
            lambda title=title: any(r["content_title"] == title for r in report_via_http(base, token, span=RECENT)),
            timeout=10,
            interval=0.05,
            what=f"event {i} to be visible",
        )
        took = time.monotonic() - published
        assert took <= 2.0, f"event {i} took {took:.2f}s to be visible"
    assert not slow.ended.is_set() and not stalled.ended.is_set()  # both downloads still open
    # The stalled client is cut after the write timeout and gives its store client back; the slow
    # one reads on.
    wait_for(lambda: metric(env, base, "actionlog_http_downloads_cut_total") == 1, timeout=60, what="the stalled cut")
    assert metric(env, base, "actionlog_http_downloads") == 1 and not slow.ended.is_set()
    slow.close()
    stalled.close()
    assert_exactly_once(report_via_http(base, env.admin_token(), span=RECENT), warm + gens)


# ---------------------------------------------------------------- items 5 and 6


def test_a_worker_waits_for_a_report_holding_the_store_then_lands_and_serves_the_cli_without_its_port(
    env: Pipeline,
) -> None:
    with ClickHouseStore(env.settings.clickhouse).connect() as store:
        land_many(store, 20_000, start_ms=int(datetime(2020, 3, 1, tzinfo=UTC).timestamp() * 1000), title_bytes=200)
    # A report writing to a pipe nobody reads yet: it holds the embedded store meanwhile.
    holder = subprocess.Popen(
        [sys.executable, "-m", "actionlog", "report", "--from", "2020-01-01", "--to", "2020-12-31"],
        env={**os.environ, **env.vars},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=env.tmp,
    )
    lock = StoreLock(env.settings.clickhouse.chdb_path)
    wait_for(lambda: "(report)" in lock.holder(), timeout=60, what="the report to hold the store")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()  # the worker's public port is someone else's
    port = taken.getsockname()[1]
    try:
        env.start_worker(ACTIONLOG_HTTP_PORT=str(port))
        wait_for(lambda: "to let go of the embedded store" in env.worker_log(), timeout=60, what="the worker to wait")
        gens = drill_events(500, seed=22)
        publish(env, gens)  # normalized meanwhile; landed once the store is the worker's
        out, err = holder.communicate(timeout=120)
        assert holder.returncode == 0, err
        assert out.count(b"\r\n") == 1 + 20_000  # the report was whole
        link = env.wait_link(timeout=120)
        assert link.public_url == ""
        assert "HTTP server not started" in env.worker_log()

        def landed() -> list[dict[str, str]] | None:
            res = env.run("report", "--from", "2025-01-01", "--to", "2026-12-31", "--format", "ndjson")
            assert res.returncode == 0, res.stderr
            rows = [json.loads(line) for line in res.stdout.splitlines()]
            return rows if len(rows) >= len(gens) else None

        assert_exactly_once(wait_for(landed, timeout=120, interval=1, what="the events through the CLI"), gens)
    finally:
        taken.close()
        if holder.poll() is None:
            holder.send_signal(signal.SIGKILL)
            holder.wait(30)
