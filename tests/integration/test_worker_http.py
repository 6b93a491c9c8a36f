"""The worker's public HTTP port: ``/healthz`` answers while it serves, and ``/metrics`` counts what
the sink did (rows, batches, failed inserts, insert time, partitions, buffer) and what the
normalizer accepted."""

from __future__ import annotations

import urllib.error
import urllib.request

import orjson
import pytest

from testkit.kafka import produce
from testkit.pipeline import Pipeline, assert_exactly_once, drill_events, http_get, wait_for, wait_landed

pytestmark = pytest.mark.integration

N = 300


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def scrape(base: str, token: str) -> dict[str, float]:
    """The metrics as ``name{labels}`` -> value (Prometheus text format); /metrics wants a token."""
    body = http_get(base + "/metrics", token)
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_healthz_and_the_sink_metrics(env: Pipeline) -> None:
    env.vars["ACTIONLOG_PROCESSOR_ENGINE"] = "aiokafka"
    env.start_worker(ACTIONLOG_TEST_FAIL_INSERTS="2", ACTIONLOG_SINK_MAX_BACKOFF="0.2")
    base = env.wait_http()

    status, content_type, body = get(base + "/healthz")
    assert (status, content_type.split(";")[0], orjson.loads(body)) == (200, "application/json", {"status": "ok"})

    with pytest.raises(urllib.error.HTTPError) as refused:  # no token, no metrics (not public here)
        get(base + "/metrics")
    assert refused.value.code == 401
    token = env.admin_token()

    gens = drill_events(N, seed=16)
    produce(env.bootstrap, [(env.topic(g.action_type), g.event_id.encode(), g.encode(), None) for g in gens])
    assert_exactly_once(wait_landed(env, N, timeout=120), gens)

    metrics = wait_for(
        lambda: (m := scrape(base, token))["actionlog_sink_rows_total"] == N and m,
        timeout=30,
        what="the sink's row count",
    )
    batches = metrics["actionlog_sink_batches_total"]
    assert batches >= 1
    assert metrics["actionlog_sink_insert_seconds_count"] == batches  # one timing per landed batch
    assert metrics["actionlog_sink_insert_failures_total"] == 2  # the two the seam failed
    assert sum(v for k, v in metrics.items() if k.startswith("actionlog_sink_set_aside_total")) == 0
    assert metrics["actionlog_sink_buffered_rows"] == 0
    assert metrics["actionlog_sink_partitions"] == env.settings.kafka.topics.log_partitions
    accepted = {k: v for k, v in metrics.items() if k.startswith("actionlog_events_accepted_total{")}
    assert sum(accepted.values()) == N
    per_type = {t: sum(g.action_type == t for g in gens) for t in {g.action_type for g in gens}}
    assert {k.split('"')[1]: int(v) for k, v in accepted.items()} == per_type
