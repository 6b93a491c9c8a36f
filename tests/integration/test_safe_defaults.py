"""Safe defaults: a worker never serves data beyond the loopback interface without a token."""

from __future__ import annotations

import pytest

from testkit.pipeline import Pipeline, http_get

pytestmark = pytest.mark.integration


def test_a_worker_refuses_a_public_address_until_a_token_exists(env: Pipeline) -> None:
    env.vars["ACTIONLOG_HTTP_HOST"] = "0.0.0.0"
    worker = env.start_worker()
    assert worker.wait(120) == 2
    log = env.worker_log()
    assert "refusing to serve on 0.0.0.0" in log and "actionlog tokens create" in log
    env.workers.clear()

    created = env.run("tokens", "create", "--name", "ops", "--admin")
    assert created.returncode == 0, created.stderr.decode()
    env.start_worker()
    base = env.wait_http()
    assert http_get(f"{base}/healthz", token="") == b'{"status":"ok"}'
    assert b"actionlog_events_accepted" in http_get(f"{base}/metrics", created.stdout.decode().strip())
