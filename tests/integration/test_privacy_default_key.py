"""With the embedded store and no ``ACTIONLOG_ERASURE_KEY``, erasing works as the contract says:
the key is made once in the store's directory (its user only), every later process reads it, and
an erased learner's events delivered again never land."""

from __future__ import annotations

import stat
import uuid

import orjson
import pytest

from actionlog.store.erasure_key import ERASURE_KEY_FILE
from testkit.events import contract_event
from testkit.kafka import produce
from testkit.pipeline import Pipeline, wait_for
from testkit.reports import cli_report_rows

pytestmark = pytest.mark.integration


def titles(env: Pipeline) -> list[str]:
    return sorted(r[3] for r in cli_report_rows(env, "--from", "2026-11-01", "--to", "2026-11-30"))


def send(env: Pipeline, learner: dict[str, str], title: str) -> None:
    event = contract_event(
        event_id=str(uuid.uuid4()), learner=learner, content={"id": "c-1", "type": "course", "title": title}
    )
    produce(env.vars["KAFKA_BOOTSTRAP_SERVERS"], [(env.topic("enrollment"), None, orjson.dumps(event), [])])


def test_erase_without_the_variable_uses_a_key_file_and_holds(env: Pipeline) -> None:
    env.vars.pop("ACTIONLOG_ERASURE_KEY", None)
    ada, bob = {"id": "u-ada", "email": "ada@example.com"}, {"id": "u-bob", "email": "bob@example.com"}
    key_file = env.settings.clickhouse.chdb_path / ERASURE_KEY_FILE

    # Erased while no worker runs: the CLI makes the key.
    erased = env.run("erase", "--learner", "u-nobody")
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.decode().startswith("nothing to erase")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    made = key_file.read_bytes()

    env.start_worker()
    env.wait_http()
    send(env, ada, "A1")
    send(env, bob, "B1")
    assert wait_for(lambda: titles(env) == ["A1", "B1"] or None, timeout=90, what="both rows")

    erased = env.run("erase", "--learner", "ADA@example.com")  # through the worker holding the store
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.decode().startswith("erased 1 learner id"), erased.stdout
    assert titles(env) == ["B1"]
    assert key_file.read_bytes() == made  # read, never made again

    send(env, ada, "A2")  # the same learner, delivered again upstream
    send(env, bob, "B2")
    assert wait_for(lambda: "B2" in titles(env) or None, timeout=90, what="the later row of another learner")
    assert titles(env) == ["B1", "B2"]
