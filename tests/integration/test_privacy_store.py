"""Erasure on the real embedded engine: what it removes from every learner table, what a dry run
and an unknown key do, and the sink's two checks (before landing; after landing, for a learner
erased while the batch was in flight)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from actionlog.access.guard import ensure_access_schema
from actionlog.core.avro import HEADER_LEN, AvroCodec
from actionlog.core.errors import ConfigError
from actionlog.core.metrics import Metrics
from actionlog.core.record import LogRecord
from actionlog.core.settings import Settings
from actionlog.sink.batch import Batch
from actionlog.sink.health import SinkHealth
from actionlog.sink.insert import Lander
from actionlog.sink.suppression import SinkSuppression
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.erasure import erase, load_suppressions
from actionlog.store.schema import FILTER_KEYS, ensure_log_schema
from testkit.rows import land, row

pytestmark = pytest.mark.integration

CODEC = AvroCodec()
KEY = b"a-test-erasure-key-of-32-bytes.."
DB, TABLE = "actionlog", "content_actions_log"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}", "ACTIONLOG_ERASURE_KEY": KEY.decode()})


@pytest.fixture
def store(settings: Settings) -> Iterator[ClickHouseStore]:
    s = ClickHouseStore(settings.clickhouse).connect()
    ensure_log_schema(s, DB, TABLE)
    ensure_access_schema(s)
    try:
        yield s
    finally:
        s.close()


def learners(store: ClickHouseStore) -> list[str]:
    return sorted(str(r[0]) for r in store.query_rows(f"SELECT learner_id FROM {DB}.{TABLE} FINAL"))


def choices(store: ClickHouseStore) -> tuple[list[str], list[str]]:
    contents = store.query_rows(f"SELECT DISTINCT content_id FROM {DB}.{TABLE}_contents FINAL ORDER BY 1")
    panoramas = store.query_rows(f"SELECT DISTINCT panorama_id FROM {DB}.{TABLE}_panoramas FINAL ORDER BY 1")
    return [str(r[0]) for r in contents], [str(r[0]) for r in panoramas]


ROWS = [
    row(event_id="e-1", learner_id="u-ada", email="ada@example.com", content_id="c-only-ada", panorama_id="p-1"),
    row(event_id="e-2", learner_id="u-ada", email="ada@example.com", content_id="c-shared", panorama_id="p-1"),
    row(event_id="e-3", learner_id="u-bob", email="bob@example.com", content_id="c-shared", panorama_id="p-1"),
    row(event_id="e-4", learner_id="u-s1", email="shared@example.com", content_id="c-shared", panorama_id="p-2"),
    row(event_id="e-5", learner_id="u-s2", email="shared@example.com", content_id="c-shared", panorama_id="p-1"),
]


def test_erase_removes_the_learner_everywhere_and_records_no_email(store: ClickHouseStore) -> None:
    land(store, ROWS)
    store.command(
        f"INSERT INTO {DB}.access_log (token_name, role, method, route, filters, status, rows, bytes)"
        " SELECT 'analyst', 'admin', 'GET', '/reports/x', {f:String}, 200, 2, 10",
        {"f": '{"learner":["ADA@example.com"]}'},
    )
    before = (learners(store), choices(store))
    dry = erase(store, DB, TABLE, KEY, "Ada@Example.com", "test", dry_run=True)
    assert (learners(store), choices(store)) == before  # a dry run changes nothing
    assert dry.counts[TABLE] == 2 and dry.counts["access_log"] == 1 and dry.learner_ids == 1
    assert store.query_rows(f"SELECT count() FROM {DB}.erasures")[0][0] == 0

    done = erase(store, DB, TABLE, KEY, "Ada@Example.com", "test", dry_run=False)
    assert done.counts == dry.counts
    assert learners(store) == ["u-bob", "u-s1", "u-s2"]
    assert choices(store) == (["c-shared"], ["p-1", "p-2"])  # c-only-ada was seen through Ada only
    # The narrowing keys of the reports held her id and email too; others' stay.
    personal = f"SELECT k FROM {DB}.{TABLE}_{FILTER_KEYS} WHERE startsWith(k, 'l:') OR startsWith(k, 'e:') ORDER BY k"
    keys = {str(r[0]) for r in store.query_rows(personal)}
    assert not {k for k in keys if "ada" in k} and "l:u-bob" in keys and "e:bob@example.com" in keys
    [(filters,)] = store.query_rows(f"SELECT filters FROM {DB}.access_log")
    assert "ada" not in filters.lower()
    [(by, kind, key_hash, ids, rows, detail)] = store.query_rows(
        f"SELECT by, key_kind, key_hash, learner_ids, rows, detail FROM {DB}.erasures"
    )
    assert (by, kind, ids, rows) == ("test", "email", 1, done.rows)
    assert "ada" not in f"{key_hash}{detail}".lower()

    # Again: nothing left.
    assert erase(store, DB, TABLE, KEY, "u-ada", "test", dry_run=False).summary().startswith("nothing to erase")


def test_an_email_of_two_learner_ids_erases_both_and_an_unknown_key_nothing(store: ClickHouseStore) -> None:
    land(store, ROWS)
    unknown = erase(store, DB, TABLE, KEY, "u-nobody", "test", dry_run=False)
    assert unknown.summary().startswith("nothing to erase") and learners(store) == [
        "u-ada",
        "u-ada",
        "u-bob",
        "u-s1",
        "u-s2",
    ]
    both = erase(store, DB, TABLE, KEY, "shared@example.com", "test", dry_run=False)
    assert both.learner_ids == 2 and "shared by several learner ids" in both.summary()
    assert learners(store) == ["u-ada", "u-ada", "u-bob"]
    assert choices(store) == (["c-only-ada", "c-shared"], ["p-1"])  # p-2 was seen through u-s1 only


def bodies(*rows: dict[str, object]) -> list[bytes]:
    return [CODEC.encode(LogRecord(**r))[HEADER_LEN:] for r in rows]


def batch_of(rows: list[bytes]) -> Batch:
    batch = Batch()
    for offset, b in enumerate(rows):
        batch.add(0, offset, b)
    return batch


def test_the_sink_keeps_erased_learners_out_and_catches_an_erasure_during_its_insert(
    settings: Settings, store: ClickHouseStore
) -> None:
    metrics = Metrics()
    suppression = SinkSuppression(settings, store, CODEC, metrics)
    lander = Lander(settings, store, CODEC, metrics, SinkHealth())
    land(store, [ROWS[0]])
    erase(store, DB, TABLE, KEY, "u-ada", "test", dry_run=False)
    assert suppression.refresh()

    # Redelivered: the learner's row never lands, the batch's offsets still commit.
    batch = batch_of(bodies(ROWS[0], ROWS[2]))
    assert suppression.filter(batch) == 1
    assert batch.commit_offsets() == {0: 2}
    asyncio.run(lander.land(batch, "log"))
    assert learners(store) == ["u-bob"]

    # In flight: the batch was checked against the list before Bob was erased, and lands after.
    batch = batch_of(bodies(row(event_id="e-9", learner_id="u-bob", email="bob@example.com")))
    assert suppression.filter(batch) == 0
    erase(store, DB, TABLE, KEY, "u-bob", "test", dry_run=False)  # deletes e-3, and e-9 is not there yet
    asyncio.run(lander.land(batch, "log"))
    assert learners(store) == ["u-bob"]  # e-9 landed after the erasure's delete
    assert suppression.after_landing(batch) == 1
    assert learners(store) == []
    assert metrics.sink_suppressed._value.get() == 2


def test_another_key_is_refused_before_anything_changes(store: ClickHouseStore) -> None:
    land(store, ROWS)
    erase(store, DB, TABLE, KEY, "u-bob", "test", dry_run=False)
    with pytest.raises(ConfigError, match="not the one the suppression list was made with"):
        erase(store, DB, TABLE, b"another-key-of-the-same-length!!", "u-ada", "test", dry_run=False)
    assert learners(store) == ["u-ada", "u-ada", "u-s1", "u-s2"]
    with pytest.raises(ConfigError, match="not the one the suppression list was made with"):
        load_suppressions(store, DB, b"another-key-of-the-same-length!!")
