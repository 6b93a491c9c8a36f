"""The set-aside topic: log records the store will not take, kept with their reason.

A record lands there as the sink last tried to land it (value, key, its own headers), plus the
dead-letter headers (`actionlog.core.dead_letters`): reason (``undecodable`` or ``refused``),
detail, the store's error code, and the log partition and offset it was read from.
``actionlog set-aside replay`` sends them back to the log topic (docs/operations.md).

The sink writes a batch's set-aside records, and waits until the broker acknowledged every one
(acks=all, idempotent producer, retried for ever), before it commits the batch's offsets: a
record is on the log or on the set-aside topic, never on neither.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from actionlog.core.dead_letters import dead_letter_headers
from actionlog.core.metrics import Metrics
from actionlog.core.privacy import scrub
from actionlog.core.record import Rejection
from actionlog.core.settings import Settings
from actionlog.kafka.clients import producer_options
from actionlog.sink.batch import SetAside

__all__ = ["SetAsideWriter"]

log = logging.getLogger(__name__)


class SetAsideWriter:
    """Writes set-aside records to ``ACTIONLOG_TOPIC_SET_ASIDE`` (its producer starts when first needed)."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.topic = settings.kafka.topics.set_aside
        self.log_topic = settings.kafka.topics.log
        self._producer: AIOKafkaProducer | None = None

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(**producer_options(self.settings.kafka))
            await producer.start()
            self._producer = producer
        return self._producer

    async def write(self, letters: Sequence[SetAside]) -> None:
        """Produce every letter and wait for every acknowledgement; retried until all are durable."""
        pending = list(letters)
        delay = 0.1
        while pending:
            written: list[SetAside]
            failed: list[SetAside]
            error: BaseException | None
            try:
                producer = await self._started()
                futures = []
                for letter in pending:
                    headers = dead_letter_headers(
                        letter.headers,
                        Rejection(letter.reason, letter.detail),
                        topic=self.log_topic,
                        partition=letter.partition,
                        offset=letter.offset,
                        code=letter.code,
                    )
                    futures.append(await producer.send(self.topic, letter.value, key=letter.key, headers=headers))
                results = await asyncio.gather(*futures, return_exceptions=True)
                outcome = list(zip(pending, results, strict=True))
                written = [letter for letter, r in outcome if not isinstance(r, BaseException)]
                failed = [letter for letter, r in outcome if isinstance(r, BaseException)]
                error = next((r for r in results if isinstance(r, BaseException)), None)
            except Exception as exc:  # send() itself raised, or the producer did not start
                written, failed, error = [], pending, exc
            for letter in written:
                self.metrics.sink_set_aside.labels(letter.reason).inc()
                log.warning(
                    "set aside %s[%d]@%d (%s): %s",
                    self.log_topic,
                    letter.partition,
                    letter.offset,
                    letter.reason,
                    scrub(letter.detail)[:300],
                )
            if not failed:
                return
            log.warning("%d set-aside record(s) not written, retrying in %.1fs: %r", len(failed), delay, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.sink.max_backoff)
            pending = failed

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
