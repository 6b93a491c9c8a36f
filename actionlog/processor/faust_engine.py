"""The Faust app and its normalizer agent.

Delivery guarantee of the normalizer: at-least-once. Events are consumed in batches with manual
acks (``noack_take``); each batch's log records and dead letters are handed to the producer and
every produce is confirmed by the broker (acks=all) before any event of the batch is acked.
Faust's producer is not idempotent (faust-streaming does not enable it): a produce retried after
a lost acknowledgement can write a record twice, which the table collapses like any other
redelivery (same ``event_id``). Faust commits only acked offsets (up to the first gap), so a crash can only make
the next owner normalize an event again (same ``event_id``, collapsed downstream), never lose it.
Agent concurrency is 1 so no commit can overtake an event still in flight, and the agent never
raises out of an event (Faust would ack it in a ``finally``): produce failures are retried.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import faust
from faust.auth import Credentials

from actionlog.core.avro import AvroCodec
from actionlog.core.metrics import Metrics
from actionlog.core.settings import KafkaSecurity, Settings
from actionlog.kafka.clients import ssl_context
from actionlog.processor.step import Normalizer, one_by_one

log = logging.getLogger(__name__)


def faust_broker(bootstrap: str) -> list[str]:
    return [f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip()]


def faust_credentials(security: KafkaSecurity) -> Credentials | None:
    """Faust's credentials object for the same security as every other client (None: PLAINTEXT).

    Faust turns it into the same aiokafka options as `actionlog.kafka.clients.security_options`
    for its consumer, producer and admin client; SASL_SSL is SASL credentials with a TLS context.
    """
    context = ssl_context(security) if security.tls else None
    if security.sasl:
        return faust.SASLCredentials(
            username=security.username,
            password=security.password.reveal() if security.password else "",
            ssl_context=context,
            mechanism=security.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def create_app(settings: Settings, metrics: Metrics, codec: AvroCodec) -> faust.App:
    """Build the Faust app whose normalizer agent consumes the four input topics."""
    topics = settings.kafka.topics
    app = faust.App(
        settings.processor.app_id,
        broker=faust_broker(settings.kafka.bootstrap_servers),
        broker_credentials=faust_credentials(settings.kafka.security),
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        topic_partitions=topics.input_partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_session_timeout=settings.kafka.session_timeout,
        broker_heartbeat_interval=settings.kafka.session_timeout / 4,
        broker_max_poll_records=5000,
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_batch_size=1_048_576,
        # A dead letter carries the original message, which may be as large as the input allows.
        producer_max_request_size=topics.dlq_max_message_bytes + 64 * 1024,
        consumer_max_fetch_size=max(4 * 1024 * 1024, topics.max_message_bytes),
        stream_buffer_maxsize=max(4096, settings.processor.batch_size * 4),
        logging_config=None,
    )
    source = app.topic(*topics.inputs, key_serializer="raw", value_serializer="raw", allow_empty=True)
    normalizer = Normalizer(metrics, codec, topics.type_by_topic, topics.log, topics.dlq)

    async def send(topic: str, key: bytes | None, value: bytes | None, headers: Any) -> Any:
        return await app.producer.send(topic, key, value, None, None, headers)

    produce_all = one_by_one(send)

    @app.agent(source, concurrency=1, name="normalizer")
    async def normalize_agent(stream: faust.StreamT) -> None:
        # noack_take is on faust.Stream, not on the StreamT interface the decorator types.
        take = cast(faust.Stream, stream).noack_take
        async for events in take(settings.processor.batch_size, within=settings.processor.batch_seconds):
            await normalizer.handle([event.message for event in events], produce_all)
            for event in events:
                await stream.ack(event)

    return app
