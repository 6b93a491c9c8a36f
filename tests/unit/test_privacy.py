"""The pure parts of erasure and retention: keyed hashes, the suppression test, what a dead letter
says of its learner, scrubbing values out of messages, the settings, the topics' configs, the
table's TTL clause, and a batch losing rows without losing offsets."""

from __future__ import annotations

import orjson
import pytest

from actionlog.core.avro import HEADER_LEN, AvroCodec, learner_of
from actionlog.core.errors import ConfigError
from actionlog.core.privacy import (
    Suppressed,
    email_hash,
    id_hash,
    learner_hashes,
    learner_of_upstream,
    looks_like_email,
    scrub,
)
from actionlog.core.record import LogRecord
from actionlog.core.settings import Settings
from actionlog.kafka.topics import wanted_topics
from actionlog.sink.batch import Batch
from actionlog.store.schema import learner_tables, retention_ttl
from testkit.rows import row

KEY = b"k" * 32


def test_hashes_are_keyed_and_an_email_is_normalized_first() -> None:
    assert email_hash(KEY, " Ada@Example.COM ") == email_hash(KEY, "ada@example.com")
    assert email_hash(KEY, "ada@example.com") != email_hash(b"x" * 32, "ada@example.com")
    assert id_hash(KEY, "ada@example.com") != email_hash(KEY, "ada@example.com")  # kinds never meet
    assert id_hash(KEY, "U-1") != id_hash(KEY, "u-1")  # ids are kept as given
    assert len(learner_hashes(KEY, ["u-1", "u-1"], ["a@x.io"])) == 2


def test_the_suppression_test() -> None:
    s = Suppressed(KEY, frozenset({id_hash(KEY, "u-1"), email_hash(KEY, "b@x.io")}))
    assert s.erased("u-1", "other@x.io") and s.erased("u-2", "B@X.io") and not s.erased("u-2", "c@x.io")
    assert not Suppressed(KEY, frozenset()).erased("u-1", "b@x.io")
    assert looks_like_email("a@b") and not looks_like_email("u-1")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (orjson.dumps({"learner": {"id": "u-1", "email": "A@x.io"}}), ("u-1", "A@x.io")),
        (orjson.dumps({"learner": {"id": 7}}), ("", "")),
        (orjson.dumps({"learner": "u-1"}), ("", "")),
        (orjson.dumps([1, 2]), ("", "")),
        (b"{not json", ("", "")),
        (None, ("", "")),
    ],
)
def test_what_a_dead_letter_says_of_its_learner(raw: bytes | None, expected: tuple[str, str]) -> None:
    assert learner_of_upstream(raw) == expected


def test_scrub_removes_the_values_a_row_carried() -> None:
    message = (
        "Code: 469. DB::Exception: Constraint `c` for table actionlog.t is violated at row 1. "
        "Expression: (email != 'ada@example.com'). Column values: email = 'ada@example.com', learner_id = 'u-1'."
    )
    out = scrub(message)
    assert "ada" not in out and "u-1" not in out and out.startswith("Code: 469. DB::Exception: Constraint")
    assert scrub('learner "u-1" mail bob@x.io') == "learner [redacted] mail [redacted]"


def test_privacy_settings() -> None:
    s = Settings.from_env({"ACTIONLOG_ERASURE_KEY": "s" * 16, "ACTIONLOG_RETENTION_DAYS": "30"})
    assert s.privacy.retention_days == 30 and s.kafka.topics.retention_days == 30
    assert "s" * 16 not in repr(s)
    assert s.privacy.key_bytes() == b"s" * 16
    with pytest.raises(ConfigError, match="ACTIONLOG_ERASURE_KEY is not set"):
        Settings.from_env({}).privacy.key_bytes()
    with pytest.raises(ConfigError, match="at least 16"):
        Settings.from_env({"ACTIONLOG_ERASURE_KEY": "short"})
    for bad in ("0", "-1", "x", "40000"):
        with pytest.raises(ConfigError, match="ACTIONLOG_RETENTION_DAYS"):
            Settings.from_env({"ACTIONLOG_RETENTION_DAYS": bad})
    assert Settings.from_env({}).privacy.retention_days is None


def test_topics_keep_records_as_long_as_configured() -> None:
    kafka = Settings.from_env({}).kafka
    wanted = wanted_topics(kafka)
    assert "retention.ms" not in wanted[kafka.topics.log][1]
    assert wanted[kafka.topics.dlq][1]["retention.ms"] == str(14 * 86_400_000)
    kafka = Settings.from_env({"ACTIONLOG_RETENTION_DAYS": "7", "ACTIONLOG_TOPIC_DLQ_RETENTION_DAYS": "30"}).kafka
    wanted = wanted_topics(kafka)
    for name in [*kafka.topics.inputs, kafka.topics.log, kafka.topics.dlq, kafka.topics.set_aside]:
        assert wanted[name][1]["retention.ms"] == str(7 * 86_400_000), name  # letters never outlive the rest


def test_the_ttl_clause_follows_the_setting() -> None:
    plain = "ReplacingMergeTree(_version) PARTITION BY toYYYYMM(occurred_at) ORDER BY (occurred_at, event_id)"
    with_ttl = plain + " TTL occurred_at + toIntervalDay(30) SETTINGS index_granularity = 8192"
    assert retention_ttl(plain, None) is None
    assert retention_ttl(plain, 30) == "MODIFY TTL occurred_at + INTERVAL 30 DAY"
    assert retention_ttl(with_ttl, 30) is None
    assert retention_ttl(with_ttl, 31) == "MODIFY TTL occurred_at + INTERVAL 31 DAY"
    assert retention_ttl(with_ttl, None) == "REMOVE TTL"


def test_the_log_table_is_the_first_learner_table() -> None:
    tables = learner_tables("content_actions_log")
    assert tables[0].table == "content_actions_log" and tables[0].redact is None
    assert all("{" in t.where for t in tables)  # values are parameters, never text


def test_a_batch_drops_rows_but_keeps_its_offsets() -> None:
    batch = Batch()
    for offset, body in enumerate([b"keep-0", b"drop-1", b"keep-2"]):
        batch.add(0, offset, body, key=body, headers=[("h", body)] if offset == 2 else None)
    batch.add(1, 5, b"drop-5")
    assert batch.drop(lambda r: r.startswith(b"drop")) == 2
    assert len(batch) == 2 and batch.rows() == [b"keep-0", b"keep-2"]
    assert batch.commit_offsets() == {0: 3, 1: 6}
    assert batch.origin(1) == (0, 2, b"keep-2", [("h", b"keep-2")])


@pytest.mark.parametrize(
    ("learner_id", "email"), [("u-1", "a@example.com"), ("", ""), ("ü-" + "x" * 300, "é@example.com")]
)
def test_learner_of_reads_what_the_full_decoder_reads(learner_id: str, email: str) -> None:
    codec = AvroCodec()
    message = codec.encode(LogRecord(**row(event_id="e" * 100, learner_id=learner_id, email=email)))
    decoded = codec.decode(message)
    assert learner_of(message[HEADER_LEN:]) == (decoded["learner_id"], decoded["email"]) == (learner_id, email)
    assert learner_of(message[HEADER_LEN : HEADER_LEN + 105]) is None  # cut inside the learner id
