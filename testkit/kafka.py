"""The real Kafka broker of tests and benches (scripts/kafka.sh) and small clients of it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

__all__ = [
    "ROOT",
    "LocalBroker",
    "committed_offsets",
    "consume_all",
    "end_offsets",
    "produce",
    "reset_group_to_beginning",
]

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = ROOT / "scripts" / "kafka.sh"

Message = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None]
"""(topic, key, value, headers)."""


class LocalBroker:
    """A broker of our own on ``port`` (KRaft, 127.0.0.1), run by scripts/kafka.sh.

    With ``secure`` on, it also listens on TLS (``port + 2``), TLS with client certificates
    (``port + 3``) and SASL_SSL (``port + 4``; SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN for
    ``sasl_user``/``sasl_password``), with a throwaway CA under `tls_dir`.
    """

    def __init__(
        self, port: int, *, secure: bool = False, sasl_user: str = "actionlog", sasl_password: str = ""
    ) -> None:
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.env = {**os.environ, "KAFKA_PORT": str(port)}
        self.sasl_user = sasl_user
        self.sasl_password = sasl_password or "actionlog-secret"
        if secure:
            self.env.update(
                KAFKA_SSL_PORT=str(port + 2),
                KAFKA_MTLS_PORT=str(port + 3),
                KAFKA_SASL_SSL_PORT=str(port + 4),
                KAFKA_SASL_USER=self.sasl_user,
                KAFKA_SASL_PASSWORD=self.sasl_password,
            )

    @property
    def ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.port + 2}"

    @property
    def mtls_bootstrap(self) -> str:
        return f"127.0.0.1:{self.port + 3}"

    @property
    def sasl_ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.port + 4}"

    @property
    def tls_dir(self) -> Path:
        """ca.pem, client.pem and client.key of a secure broker (scripts/kafka.sh certs)."""
        return self._run_dir / "tls"

    @property
    def _run_dir(self) -> Path:
        return ROOT / ".cache" / "kafka" / f"run-{self.port}"

    def _script(self, action: str, check: bool = True) -> None:
        subprocess.run([str(KAFKA_SH), action], env=self.env, check=check, cwd=ROOT)

    def start_fresh(self) -> None:
        """Stop any broker left on the port, delete its data, start a new one."""
        self._script("reset")
        self._script("start")

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")

    def reset(self) -> None:
        """Stop the broker and delete its data."""
        self._script("reset", check=False)

    def __enter__(self) -> LocalBroker:
        self.start_fresh()
        return self

    def __exit__(self, *exc: object) -> None:
        self.reset()

    def pid(self) -> int | None:
        try:
            return int((self._run_dir / "kafka.pid").read_text())
        except (OSError, ValueError):
            return None


def produce(bootstrap: str, messages: list[Message], **options: Any) -> list[Any]:
    """Publish messages and wait until every one is acknowledged; returns their RecordMetadata.

    Raises:
        KafkaError: a send failed (never ignored).
    """

    async def go() -> list[Any]:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=4 << 20, **options
        )
        await producer.start()
        try:
            futures = [await producer.send(t, value=v, key=k, headers=h) for t, k, v, h in messages]
            return list(await asyncio.gather(*futures))
        finally:
            await producer.stop()

    return asyncio.run(go())


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 60) -> list[Any]:
    """Every message of ``topic`` from the beginning, once at least ``expected`` are there.

    Waits until ``expected`` messages arrived, then reads on up to the end offsets of that
    moment, so that anything already published beyond ``expected`` (a duplicate, a loop) is
    returned too: callers compare the length with what they expect.

    Raises:
        AssertionError: fewer than ``expected`` messages within ``timeout`` seconds.
    """

    async def go() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        out: list[Any] = []
        try:
            deadline = time.monotonic() + timeout
            while len(out) < expected:
                if time.monotonic() > deadline:
                    raise AssertionError(f"only {len(out)} of {expected} messages on {topic} after {timeout}s")
                for msgs in (await consumer.getmany(timeout_ms=500)).values():
                    out.extend(msgs)
            tps = sorted(consumer.assignment())
            ends = await consumer.end_offsets(tps)
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for msgs in (await consumer.getmany(timeout_ms=500)).values():
                    out.extend(msgs)
        finally:
            await consumer.stop()
        return out

    return asyncio.run(go())


def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """The group's committed offsets: (topic, partition) -> offset."""

    async def go() -> dict[tuple[str, int], int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    return asyncio.run(go())


async def _partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> end offset (the next offset to be written)."""

    async def go() -> dict[int, int]:
        tps = await _partitions(bootstrap, [topic])
        assert tps, f"topic {topic} has no partitions (does it exist?)"
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
        return {tp.partition: offset for tp, offset in ends.items()}

    return asyncio.run(go())


def reset_group_to_beginning(bootstrap: str, group: str, topics: list[str]) -> None:
    """Commit the beginning offsets of every partition of ``topics`` for ``group`` (group stopped)."""

    async def go() -> None:
        tps = await _partitions(bootstrap, topics)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.commit(await consumer.beginning_offsets(tps))
        finally:
            await consumer.stop()

    asyncio.run(go())
