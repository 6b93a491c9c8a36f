"""Items of the hardening review that need no broker: a corrupt varint costs nothing, the email
cache keeps only short emails, a produce whose ``send()`` raises is retried like one refused later,
and the dead-letter replay's producer takes any dead letter."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError

import actionlog.processor.normalize as normalize_module
from actionlog.core.avro import MAGIC, AvroCodec, BadFraming
from actionlog.core.metrics import Metrics
from actionlog.core.settings import Settings
from actionlog.kafka.clients import producer_options
from actionlog.processor.normalize import normalize
from actionlog.processor.step import Normalizer, one_by_one
from testkit.events import contract_event

CODEC = AvroCodec()


def test_a_varint_longer_than_ten_bytes_is_refused_at_its_eleventh_byte() -> None:
    data = MAGIC + CODEC.fingerprint + b"\xff" * (128 * 1024)
    with pytest.raises(BadFraming, match="event_id: a varint longer than 10 bytes"):
        CODEC.decode(data)
    # Ten continuation bytes then an end: still too long for a long, refused the same way.
    with pytest.raises(BadFraming, match="longer than 10 bytes"):
        CODEC.decode(MAGIC + CODEC.fingerprint + b"\x80" * 10 + b"\x00")


def test_the_email_cache_keeps_short_emails_only(monkeypatch: pytest.MonkeyPatch) -> None:
    cache: dict[str, str] = {}
    monkeypatch.setattr(normalize_module, "_email_cache", cache)
    short = "Ada@Example.com"
    long_local = "a" * 60 + "." + "b" * 3 + "@" + ".".join(["x" * 60] * 5) + ".com"  # a valid 400-char email
    assert len(long_local) > 320
    for email in (short, long_local):
        event = contract_event(learner={"id": "u-1", "email": email})
        record = normalize(orjson.dumps(event), "enrollment", topic="t", partition=0, offset=0)
        assert getattr(record, "email", None) == email.lower(), record
    assert cache == {short: short.lower()}


@dataclass
class Message:
    value: bytes
    topic: str = "in"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    headers: Any = None


@dataclass
class FlakyBroker:
    """``send()`` raises for the first ``raise_first`` calls (as aiokafka does when its buffer is
    full or the producer is closing), then acknowledges."""

    raise_first: int
    calls: int = 0
    acked: list[tuple[str, bytes | None]] = field(default_factory=list)

    async def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Any) -> Any:
        self.calls += 1
        if self.calls <= self.raise_first:
            raise KafkaTimeoutError("buffer full")
        self.acked.append((topic, value))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def test_a_send_that_raises_is_retried_until_every_output_is_acknowledged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncio, "sleep", _no_sleep)
    metrics = Metrics()
    normalizer = Normalizer(metrics, CODEC, {"in": "enrollment"}, "log", "dlq")
    good = [Message(orjson.dumps(contract_event(event_id=f"e-{i}"))) for i in range(3)]
    messages = [*good, Message(b"{not json")]
    broker = FlakyBroker(raise_first=2)
    asyncio.run(normalizer.handle(messages, one_by_one(broker.send)))  # returns only once all are durable
    assert sorted(topic for topic, _ in broker.acked) == ["dlq", "log", "log", "log"]
    assert {CODEC.decode(v or b"")["event_id"] for t, v in broker.acked if t == "log"} == {"e-0", "e-1", "e-2"}
    assert metrics.produce_retries._value.get() == 2


async def _no_sleep(delay: float) -> None:
    return None


def test_the_replay_producer_takes_a_dead_letter_as_large_as_the_dead_letter_topic_allows() -> None:
    topics = Settings.from_env({"ACTIONLOG_TOPIC_MAX_MESSAGE_BYTES": str(8 << 20)}).kafka
    assert producer_options(topics)["max_request_size"] >= topics.topics.dlq_max_message_bytes > 1 << 20
