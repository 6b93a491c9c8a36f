"""What landing a row costs the landing process: CPU per row of the sink's insert into the embedded store.

The sink hands each batch to ClickHouse as one Avro block (`ClickHouseStore.insert_avro`); the
engine then writes the log's part and runs the materialized views that follow the log (the
dimensions behind the choice lists, and the filter keys behind fast filtered reports). This
measures the CPU of the whole process (every engine thread) per inserted row, with all of them
and with the log table alone, on fresh databases of one chDB store, alternating, best of rounds.

    python bench/bench_landing.py [--rows 200000] [--block ROWS] [--rounds 2]

prints one JSON object: ``{"rows", "block", "views_us", "log_only_us", "keys_us"}`` (µs of CPU
per row: everything; the log table alone; the filter keys' view alone on top of the rest).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from typing import Any

import harness  # noqa: F401  (puts the repository on sys.path)

from actionlog.core.avro import HEADER_LEN, AvroCodec
from actionlog.core.record import LogRecord
from actionlog.core.settings.clickhouse import ClickHouseSettings
from actionlog.core.settings.stages import SinkSettings
from actionlog.processor.normalize import normalize
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.schema import DIMENSIONS, FILTER_KEYS, ensure_log_schema
from testkit.events import events

TABLE = "content_actions_log"
#: Which views each variant drops after creating the schema.
VARIANTS: dict[str, tuple[str, ...]] = {
    "views": (),
    "no_keys": (FILTER_KEYS,),
    "log_only": (FILTER_KEYS, *DIMENSIONS),
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bodies(n: int) -> list[bytes]:
    """``n`` log records as the sink inserts them: Avro bodies of the current schema."""
    codec = AvroCodec()
    out = []
    for i, g in enumerate(events(n)):
        record = normalize(g.encode(), g.action_type, topic="bench", partition=0, offset=i)
        if not isinstance(record, LogRecord):
            raise RuntimeError(f"the generator made an invalid event: {record}")
        out.append(codec.encode(record)[HEADER_LEN:])
    return out


def _land(path: str, database: str, drop: tuple[str, ...], rows: list[bytes], block: int) -> float:
    settings = ClickHouseSettings(url=f"chdb://{path}", database=database, table=TABLE)
    with ClickHouseStore(settings).connect() as store:
        ensure_log_schema(store, database, TABLE)
        for name in drop:
            store.command(f"DROP VIEW {database}.{TABLE}_{name}_mv")
        schema = AvroCodec().schema_json
        started = _cpu()
        for i in range(0, len(rows), block):
            store.insert_avro(rows[i : i + block], schema, dedup_token=f"{database}-{i}")
        return _cpu() - started


def run(n: int = 200_000, block: int = SinkSettings.batch_rows, rounds: int = 2) -> dict[str, Any]:
    rows = bodies(n)
    path = tempfile.mkdtemp(prefix="actionlog-landing-")
    best = dict.fromkeys(VARIANTS, float("inf"))
    try:
        for r in range(rounds):
            for name, drop in VARIANTS.items():
                best[name] = min(best[name], _land(f"{path}/chdb", f"bench_{name}_{r}", drop, rows, block))
                time.sleep(0.5)  # let the engine's background work of one variant settle
    finally:
        shutil.rmtree(path, ignore_errors=True)
    per_row = {name: 1e6 * s / n for name, s in best.items()}
    return {
        "rows": n,
        "block": block,
        "views_us": per_row["views"],
        "log_only_us": per_row["log_only"],
        "keys_us": per_row["views"] - per_row["no_keys"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument(
        "--block", type=int, default=SinkSettings.batch_rows, help="rows per insert (the sink's default batch)"
    )
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(run(args.rows, args.block, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
