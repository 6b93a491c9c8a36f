"""``POST /admin/erasures``: only an admin token erases; each call is in the access log, which
never holds the learner's email; the erasure is recorded under the token's name."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from typing import Any

import orjson
import pytest

from actionlog.store import open_store
from testkit.events import contract_event
from testkit.kafka import produce
from testkit.pipeline import Pipeline, wait_for
from testkit.reports import cli_report_rows

pytestmark = pytest.mark.integration

EMAIL = "grace.hopper@example.com"


def post(url: str, token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def emails(env: Pipeline) -> list[str]:
    return sorted(r[0] for r in cli_report_rows(env, "--from", "2026-11-01", "--to", "2026-11-30"))


def test_an_admin_erases_over_http_and_the_audit_keeps_no_email(env: Pipeline) -> None:
    env.vars["ACTIONLOG_ERASURE_KEY"] = "an-erasure-key-for-the-tests-0123456789"
    env.start_worker()
    base = env.wait_http()
    grace = contract_event(event_id=str(uuid.uuid4()), learner={"id": "u-grace", "email": EMAIL})
    other = contract_event(event_id=str(uuid.uuid4()), learner={"id": "u-other", "email": "other@example.com"})
    produce(
        env.vars["KAFKA_BOOTSTRAP_SERVERS"],
        [(env.topic("enrollment"), None, orjson.dumps(e), []) for e in (grace, other)],
    )
    assert wait_for(lambda: emails(env) == [EMAIL, "other@example.com"] or None, what="both rows")
    admin = env.admin_token()
    made = env.run("tokens", "create", "--name", "panorama-7", "--panorama", "p-7")
    assert made.returncode == 0, made.stderr
    url = base.rstrip("/") + "/admin/erasures"

    status, answer = post(url, made.stdout.decode().strip(), orjson.dumps({"learner": EMAIL}))
    assert status == 403, answer
    status, answer = post(url, admin, b"{not json")
    assert status == 400, answer
    status, answer = post(url, admin, orjson.dumps({"learner": EMAIL, "dry_run": True}))
    assert status == 200 and answer["summary"].startswith("dry run: would erase 1 learner id"), answer
    would = answer["rows"]  # the log's row and what follows it (the report's narrowing keys)
    assert emails(env) == [EMAIL, "other@example.com"]
    status, answer = post(url, admin, orjson.dumps({"learner": EMAIL}))
    assert status == 200 and answer["summary"].startswith("erased 1 learner id"), answer
    assert answer["counts"]["content_actions_log"] == 1 and answer["rows"] == would
    assert emails(env) == ["other@example.com"]

    store = open_store(env.settings.clickhouse)
    try:
        audit = store.query_rows(
            "SELECT token_name, status, rows, filters FROM actionlog.access_log"
            " WHERE route = '/admin/erasures' ORDER BY at"
        )
        erasures = store.query_rows("SELECT by, key_kind, rows FROM actionlog.erasures")
    finally:
        store.close()
    assert [(n, s, r) for n, s, r, _ in audit] == [
        ("panorama-7", 403, 0),
        ("test-admin", 400, 0),
        ("test-admin", 200, would),
        ("test-admin", 200, would),
    ]
    assert all("grace" not in f.lower() for *_, f in audit)
    assert erasures == [("token:test-admin", "email", would)]

    # Without the key, nothing that lands or is re-driven could be checked: the sink and the
    # replays refuse to run, with one line saying why.
    env.stop_workers()
    env.vars.pop("ACTIONLOG_ERASURE_KEY")
    replay = env.run("dlq", "replay")
    assert replay.returncode == 2 and replay.stderr.startswith(
        b"actionlog: bad setting: ACTIONLOG_ERASURE_KEY is not set"
    )
    worker = env.start_worker()
    assert worker.wait(120) == 2
    # The worker makes a key file of its own, which the list was not made with: refused too.
    assert "the erasure key is not the one the suppression list was made with" in env.worker_log()
