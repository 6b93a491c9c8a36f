"""The normalizer step shared by both engines: a batch of upstream messages → confirmed produces.

Guarantee: `Normalizer.handle` returns only when every log record and dead letter of the batch
has been acknowledged by the broker (acks=all; the aiokafka engine's producer is idempotent,
Faust's is not, see `actionlog.processor.faust_engine`); a failed produce (whether
``send`` raised at once or the broker refused later) is retried with backoff, for ever, so the
caller never acks/commits past an event whose output is not durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from actionlog.core.avro import AvroCodec
from actionlog.core.dead_letters import dead_letter_headers
from actionlog.core.metrics import Metrics
from actionlog.core.record import LogRecord
from actionlog.processor.normalize import normalize

__all__ = ["Normalizer", "Output", "ProduceAll", "one_by_one"]

log = logging.getLogger(__name__)

Output = tuple[str, bytes | None, bytes | None, Any]
"""(topic, key, value, headers) of one message to produce."""
Send = Callable[[str, bytes | None, bytes | None, Any], Awaitable[Awaitable[Any]]]
"""send(topic, key, value, headers) -> awaitable of the broker's acknowledgement."""
ProduceAll = Callable[[list[Output]], Awaitable[tuple[list[Output], BaseException | None]]]
"""produce_all(outputs) -> the outputs whose produce failed, and the first error (after every ack)."""


def one_by_one(send: Send) -> ProduceAll:
    """A ProduceAll that sends each output on its own and waits for every acknowledgement.

    An error raised by ``send`` itself (a full buffer, a message too large, a closed producer)
    counts as a failed produce of that output, like an error of its acknowledgement.
    """

    async def produce_all(outputs: list[Output]) -> tuple[list[Output], BaseException | None]:
        futures: list[Awaitable[Any] | BaseException] = []
        for t, k, v, h in outputs:
            try:
                futures.append(await send(t, k, v, h))
            except Exception as exc:
                futures.append(exc)
        results = await asyncio.gather(
            *(_failed(f) if isinstance(f, BaseException) else f for f in futures), return_exceptions=True
        )
        failed = [item for item, r in zip(outputs, results, strict=True) if isinstance(r, BaseException)]
        first = next((r for r in results if isinstance(r, BaseException)), None)
        return failed, first

    return produce_all


async def _failed(exc: BaseException) -> Any:
    raise exc


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
