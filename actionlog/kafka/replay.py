"""Re-driving dead letters to the topic they came from, after a fix: ``actionlog dlq replay``
(the normalizer's dead letters, back to their input topics) and ``actionlog set-aside replay``
(the sink's set-aside records, back to the log topic).

Each run reads the letters' topic from where the previous run stopped (a consumer group of the
replay's own) up to the end offsets seen when it started, so a replayed message that is refused
again (after the snapshot) is not re-driven in the same run; across runs, a message is re-driven
at most ``max_replays`` times (header ``actionlog.replay.count``). Progress is committed only
after every re-driven message was acknowledged by the broker.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from actionlog.core.dead_letters import REPLAY_COUNT, original_headers, parse_dead_letter, replay_count
from actionlog.core.settings import Settings
from actionlog.kafka.clients import connection_options, producer_options
from actionlog.kafka.topics import partitions_of

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    replayed: Counter[str] = field(default_factory=Counter)
    skipped_reason: int = 0
    skipped_exhausted: int = 0
    skipped_unroutable: int = 0
    skipped_erased: int = 0

    def summary(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in sorted(self.replayed.items())) or "none"
        return (
            f"replayed {sum(self.replayed.values())} ({parts}); skipped: {self.skipped_reason} other reasons, "
            f"{self.skipped_exhausted} past max replays, {self.skipped_unroutable} without a known source topic, "
            f"{self.skipped_erased} of erased learners"
        )


@dataclass(frozen=True)
class Letters:
    """Where letters are kept and where they may go back to.

    Attributes:
        topic: the topic holding them.
        targets: the topics a letter may be re-driven to (its ``actionlog.source.topic``).
        group: the consumer group that remembers how far replays got.
    """

    topic: str
    targets: frozenset[str]
    group: str

    @classmethod
    def dead_letters(cls, settings: Settings) -> Letters:
        """The normalizer's dead letters, back to their input topics."""
        topics = settings.kafka.topics
        return cls(topics.dlq, frozenset(topics.inputs), f"{settings.processor.app_id}-dlq-replay")

    @classmethod
    def set_aside(cls, settings: Settings) -> Letters:
        """The sink's set-aside records, back to the log topic."""
        topics = settings.kafka.topics
        return cls(topics.set_aside, frozenset({topics.log}), f"{settings.sink.group_id}-set-aside-replay")


async def replay(
    settings: Settings,
    letters: Letters,
    *,
    reasons: frozenset[str] = frozenset(),
    max_replays: int = 3,
    from_beginning: bool = False,
    dry_run: bool = False,
    erased: Callable[[bytes | None], bool] | None = None,
) -> ReplayResult:
    """Re-drive the letters that arrived since the last run (or all, ``from_beginning``).

    ``erased`` tells a letter of an erased learner (docs/privacy.md): it is never re-driven (and
    counted), whatever its reason.
    """
    topics = settings.kafka.topics
    allowed_targets = letters.targets
    group = letters.group
    consumer = AIOKafkaConsumer(
        **connection_options(settings.kafka),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=topics.dlq_max_message_bytes + 64 * 1024,
    )
    # Up to the dead-letter topic's size limit: any dead letter can be re-driven.
    producer = AIOKafkaProducer(**producer_options(settings.kafka))
    result = ReplayResult()
    try:
        await consumer.start()
        await producer.start()
        partitions = (await partitions_of(settings.kafka, [letters.topic])).get(letters.topic, [])
        tps = [TopicPartition(letters.topic, p) for p in partitions]
        if not tps:
            return result
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        todo = {tp for tp in tps if await consumer.position(tp) < end[tp]}
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=1000)
            futures = []
            for tp, messages in batch.items():
                for m in messages:
                    if m.offset >= end[tp]:
                        continue
                    headers = list(m.headers or ())
                    info = parse_dead_letter(headers)
                    if reasons and info.reason not in reasons:
                        result.skipped_reason += 1
                        continue
                    count = replay_count(headers)
                    if count >= max_replays:
                        result.skipped_exhausted += 1
                        continue
                    if info.source_topic not in allowed_targets:
                        result.skipped_unroutable += 1
                        continue
                    if erased is not None and erased(m.value):
                        result.skipped_erased += 1
                        continue
                    result.replayed[info.reason or "?"] += 1
                    if dry_run:
                        continue
                    out_headers = [(k, v) for k, v in original_headers(headers) if k != REPLAY_COUNT]
                    out_headers.append((REPLAY_COUNT, str(count + 1).encode()))
                    futures.append(await producer.send(info.source_topic, m.value, key=m.key, headers=out_headers))
            for fut in futures:
                await fut  # every re-driven message acknowledged before we commit
            for tp in list(todo):
                if await consumer.position(tp) >= end[tp]:
                    todo.discard(tp)
        if not dry_run:
            await consumer.commit({tp: end[tp] for tp in tps})
        return result
    finally:
        await producer.stop()
        await consumer.stop()
