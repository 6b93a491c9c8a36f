"""The sink lands records written with an older schema version: it resolves each to the current
schema and re-encodes it before the insert (ClickHouse only ever sees current-schema bodies)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import io
from pathlib import Path
from typing import Any

import fastavro
import pytest

from actionlog.core.avro import MAGIC, AvroCodec, schema_fingerprint
from actionlog.core.metrics import Metrics
from actionlog.core.settings import Settings
from actionlog.kafka.topics import ensure_topics
from actionlog.sink.landing import ClickHouseSink
from testkit.kafka import produce
from testkit.pipeline import Pipeline
from testkit.sinks import encoded, landed_records, log_records, open_sink_store, raw_count, wait_until

pytestmark = pytest.mark.integration

N = 60


def older_schema(current: dict[str, Any]) -> dict[str, Any]:
    """A plausible earlier version: it carried a field (in the middle) that a later one dropped,
    so its bodies differ from the current schema's byte for byte."""
    old = copy.deepcopy(current)
    at = [f["name"] for f in old["fields"]].index("learner_id") + 1
    old["fields"].insert(at, {"name": "learner_name", "type": "string"})
    return old


def test_records_of_an_older_schema_are_re_encoded_and_land(env: Pipeline, tmp_path: Path) -> None:
    settings = Settings.from_env({**env.vars, "CLICKHOUSE_URL": f"chdb://{tmp_path / 'old'}"})
    asyncio.run(ensure_topics(settings.kafka))
    current = AvroCodec().schema
    old = older_schema(current)
    codec = AvroCodec(extra_writer_schemas=[old])
    records = log_records(N, seed=41)
    parsed_old = fastavro.parse_schema(copy.deepcopy(old))
    messages = encoded(settings, records, codec)
    for i in range(0, N, 2):  # every other record written with the older schema (by fastavro alone)
        body = io.BytesIO()
        datum = {**dataclasses.asdict(records[i]), "learner_name": f"Learner {i}"}
        fastavro.schemaless_writer(body, parsed_old, datum)
        topic, key, _, _ = messages[i]
        messages[i] = (topic, key, MAGIC + schema_fingerprint(old) + body.getvalue(), None)
    produce(settings.kafka.bootstrap_servers, messages)
    store = open_sink_store(settings)
    metrics = Metrics()

    async def scenario() -> None:
        sink = asyncio.create_task(ClickHouseSink(settings, store, codec, metrics).run())
        try:
            await wait_until(lambda: asyncio.to_thread(lambda: raw_count(store) >= N), 60, "every record to land")
        finally:
            sink.cancel()
            await asyncio.gather(sink, return_exceptions=True)

    try:
        asyncio.run(scenario())
        want = sorted((dataclasses.asdict(r) for r in records), key=lambda r: r["event_id"])
        got = landed_records(store)
        for row in got:
            row["kafka_partition"], row["kafka_offset"] = int(row["kafka_partition"]), int(row["kafka_offset"])
        assert got == want
    finally:
        store.close()
    assert metrics.sink_set_aside.labels(reason="undecodable")._value.get() == 0
