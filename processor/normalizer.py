"""The normalizer step shared by both engines: a batch of upstream messages → confirmed produces.

Guarantee: ``handle`` returns only when every log record and dead letter of the batch has been
acknowledged by the broker (acks=all, idempotent producer); a failed produce is retried with
backoff, forever, so the caller never acks/commits past an event whose output is not durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from actionlog.metrics import Metrics
from processor.avro import AvroCodec
from processor.dlq import dead_letter_headers
from processor.normalize import normalize
from processor.records import LogRecord

log = logging.getLogger(__name__)

Output = tuple[str, bytes | None, bytes | None, Any]
#: send(topic, key, value, headers) -> awaitable of the broker's acknowledgement
Send = Callable[[str, bytes | None, bytes | None, Any], Awaitable[Awaitable[Any]]]
#: produce_all(outputs) -> the outputs whose produce failed (after waiting for every ack)
ProduceAll = Callable[[list[Output]], Awaitable[tuple[list[Output], BaseException | None]]]


def one_by_one(send: Send) -> ProduceAll:
    """A ProduceAll that sends each output on its own and waits for every acknowledgement."""

    async def produce_all(outputs: list[Output]) -> tuple[list[Output], BaseException | None]:
        futures = [await send(t, k, v, h) for t, k, v, h in outputs]
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = [item for item, r in zip(outputs, results, strict=True) if isinstance(r, BaseException)]
        first = next((r for r in results if isinstance(r, BaseException)), None)
        return failed, first

    return produce_all


class UpstreamMessage(Protocol):
    """What both aiokafka's ConsumerRecord and Faust's Message offer."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any


class Normalizer:
    """Turns upstream messages into log records / dead letters and produces them, confirmed."""

    def __init__(
        self, metrics: Metrics, codec: AvroCodec, type_by_topic: dict[str, str], log_topic: str, dlq_topic: str
    ) -> None:
        self.metrics = metrics
        self.codec = codec
        self.type_by_topic = type_by_topic
        self.log_topic = log_topic
        self.dlq_topic = dlq_topic

    def outputs(self, messages: Sequence[UpstreamMessage]) -> list[Output]:
        """Pure step: (topic, key, value, headers) to produce for each message, in order."""
        out: list[Output] = []
        encode = self.codec.encode
        accepted: dict[str, int] = {}
        for msg in messages:
            action_type = self.type_by_topic[msg.topic]
            result = normalize(msg.value, action_type, topic=msg.topic, partition=msg.partition, offset=msg.offset)
            if isinstance(result, LogRecord):
                out.append((self.log_topic, result.event_id.encode(), encode(result), None))
                accepted[action_type] = accepted.get(action_type, 0) + 1
            else:
                headers = dead_letter_headers(
                    list(msg.headers or ()), result, topic=msg.topic, partition=msg.partition, offset=msg.offset
                )
                out.append((self.dlq_topic, msg.key, msg.value, headers))
                self.metrics.rejected.labels(result.reason).inc()
        for action_type, n in accepted.items():
            self.metrics.accepted.labels(action_type).inc(n)
        return out

    async def handle(self, messages: Sequence[UpstreamMessage], produce_all: ProduceAll) -> None:
        """Produce every output of the batch and wait until the broker confirmed all of them."""
        pending = self.outputs(messages)
        delay = 0.1
        while pending:
            failed, first = await produce_all(pending)
            if not failed:
                return
            self.metrics.produce_retries.inc(len(failed))
            log.warning("%d produce(s) failed, retrying in %.1fs: %r", len(failed), delay, first)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            pending = failed
