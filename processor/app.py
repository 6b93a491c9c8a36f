"""The Faust worker: the normalizer agent, plus the sink and the HTTP server as app tasks.

Delivery guarantee of the normalizer: at-least-once. Events are consumed in batches with manual
acks (``noack_take``); each batch's log records and dead letters are handed to the producer and
every produce is confirmed by the broker (acks=all, idempotent producer) before any event of the
batch is acked. Faust commits only acked offsets (up to the first gap), so a crash can only make
the next owner normalize an event again (same ``event_id``, collapsed downstream), never lose it.
Agent concurrency is 1 so no commit can overtake an event still in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import faust

from actionlog.metrics import Metrics
from actionlog.settings import Settings
from processor.avro import AvroCodec
from processor.dlq import dead_letter_headers
from processor.normalize import normalize
from processor.records import LogRecord

log = logging.getLogger(__name__)


def faust_broker(bootstrap: str) -> list[str]:
    return [f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip()]


def create_app(settings: Settings, metrics: Metrics, codec: AvroCodec) -> faust.App:
    """Build the Faust app with its normalizer agent (tasks are added by the worker)."""
    topics = settings.kafka.topics
    app = faust.App(
        settings.processor.app_id,
        broker=faust_broker(settings.kafka.bootstrap_servers),
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        topic_partitions=topics.input_partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_session_timeout=settings.kafka.session_timeout,
        broker_heartbeat_interval=settings.kafka.session_timeout / 4,
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_batch_size=1_048_576,
        # A dead letter carries the original message, which may be as large as the input allows.
        producer_max_request_size=topics.dlq_max_message_bytes + 64 * 1024,
        consumer_max_fetch_size=max(4 * 1024 * 1024, topics.max_message_bytes),
        stream_buffer_maxsize=max(4096, settings.processor.batch_size * 4),
        broker_max_poll_records=5000,
        logging_config=None,
    )
    source = app.topic(*topics.inputs, key_serializer="raw", value_serializer="raw", allow_empty=True)
    type_by_topic = topics.type_by_topic
    normalizer = Normalizer(app, settings, metrics, codec, type_by_topic)

    @app.agent(source, concurrency=1, name="normalizer")
    async def normalize_agent(stream: faust.StreamT) -> None:
        async for events in stream.noack_take(settings.processor.batch_size, within=settings.processor.batch_seconds):
            await normalizer.handle(events)
            for event in events:
                await stream.ack(event)

    return app


class Normalizer:
    """Turns a batch of upstream events into produced log records / dead letters, confirmed."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        metrics: Metrics,
        codec: AvroCodec,
        type_by_topic: dict[str, str],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.codec = codec
        self.type_by_topic = type_by_topic
        self.log_topic = settings.kafka.topics.log
        self.dlq_topic = settings.kafka.topics.dlq

    def outputs(self, events: Sequence[Any]) -> list[tuple[str, bytes | None, bytes | None, Any]]:
        """Pure step: (topic, key, value, headers) to produce for each event, in order."""
        out: list[tuple[str, bytes | None, bytes | None, Any]] = []
        encode = self.codec.encode
        for event in events:
            msg = event.message
            action_type = self.type_by_topic[msg.topic]
            result = normalize(msg.value, action_type, topic=msg.topic, partition=msg.partition, offset=msg.offset)
            if isinstance(result, LogRecord):
                out.append((self.log_topic, result.event_id.encode(), encode(result), None))
                self.metrics.accepted.labels(action_type).inc()
            else:
                headers = dead_letter_headers(
                    msg.headers, result, topic=msg.topic, partition=msg.partition, offset=msg.offset
                )
                out.append((self.dlq_topic, msg.key, msg.value, headers))
                self.metrics.rejected.labels(result.reason).inc()
        return out

    async def handle(self, events: Sequence[Any]) -> None:
        """Produce every output of the batch and wait until the broker confirmed all of them.

        A failed produce is retried (with backoff, forever): the events stay un-acked meanwhile,
        so nothing is committed past them.
        """
        pending = self.outputs(events)
        delay = 0.1
        while pending:
            producer = self.app.producer
            futures = [await producer.send(t, k, v, None, None, h) for t, k, v, h in pending]
            results = await asyncio.gather(*futures, return_exceptions=True)
            failed = [item for item, r in zip(pending, results, strict=True) if isinstance(r, BaseException)]
            if not failed:
                return
            self.metrics.produce_retries.inc(len(failed))
            first = next(r for r in results if isinstance(r, BaseException))
            log.warning("%d produce(s) failed, retrying in %.1fs: %r", len(failed), delay, first)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            pending = failed
