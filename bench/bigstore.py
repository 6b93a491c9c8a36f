"""chDB-side steps of the bench, each run in a subprocess of its own (one chDB path per process,
and chDB locks its directory): ``python bench/bigstore.py COMMAND PATH [...]`` prints one JSON line.

Commands:
  generate PATH --rows N [--optimize]   realistic rows straight into the table with SQL
  reports PATH --runs R                 report latency through query.run.report_chunks vs the same SQL raw
  engine-export PATH                    the engine's own CSV of the full report SQL, read and discarded
  freshness PATH --since-ms T           publish → landed statistics of a freshness run
  baseline PATH                         open the store and run SELECT 1 (chDB's own memory floor)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness import json_of_script  # noqa: E402

from actionlog.core.catalog import SOURCES_BY_TYPE  # noqa: E402
from actionlog.core.scope import Scope  # noqa: E402
from actionlog.core.settings import ClickHouseSettings, TopicSettings  # noqa: E402
from actionlog.query.filters import parse_report_params  # noqa: E402
from actionlog.query.report import report_chunks  # noqa: E402
from actionlog.query.sql import build_report_query, clickhouse_format  # noqa: E402
from actionlog.store import STREAM_CHUNK as CHUNK  # noqa: E402
from actionlog.store.clickhouse import ClickHouseStore as Store  # noqa: E402
from actionlog.store.schema import ensure_log_schema  # noqa: E402
from testkit.events import CONTENT_TYPES, WORDS  # noqa: E402
from testkit.recording import Recording, Statement  # noqa: E402

EVERYTHING = Scope.everything()

TABLE = "actionlog.content_actions_log"
DAYS = 400
PANORAMAS = 20
LEARNERS = 5000
CONTENTS = 2000


def run_json(*args: str, timeout: float = 3600) -> Any:
    """Run a command of this module in a subprocess; return its JSON answer."""
    return json_of_script(Path(__file__), *args, timeout=timeout)


def open_store(path: str) -> Store:
    return Store(ClickHouseSettings(url=f"chdb://{path}")).connect()


def _array(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "\\'") + "'" for v in values) + "]"


def generate_sql(rows: int, end_ms: int, start: int = 0) -> str:
    """One ``INSERT ... SELECT FROM numbers(start, rows)``: ~400 days before ``end_ms``, 20 panoramas plus
    the main site, 5,000 learners, 2,000 contents (each with a stable 2-12 word title), every
    Type/Source pair of the catalog equally often (the generator's mix), actors on manager_* sources.
    """
    pairs = [(t, s) for t, ss in SOURCES_BY_TYPE.items() for s in ss]
    topics = TopicSettings().type_by_topic
    topic_of = {v: k for k, v in topics.items()}
    return f"""
INSERT INTO {TABLE}
(event_id, occurred_at, action_type, source, learner_id, email, panorama_id, panorama_name, content_id,
 content_type, content_title, course_group_id, actor_id, actor_email, ingested_at, kafka_topic,
 kafka_partition, kafka_offset)
WITH
    {_array([t for t, _ in pairs])} AS types,
    {_array([s for _, s in pairs])} AS sources,
    {_array([topic_of[t] for t, _ in pairs])} AS topics,
    {_array(WORDS)} AS words,
    {_array(CONTENT_TYPES)} AS ctypes,
    1 + cityHash64(number, 1) % {len(pairs)} AS pair,
    cityHash64(number, 2) % {LEARNERS} AS learner,
    cityHash64(number, 3) % {PANORAMAS + 1} AS pano,
    cityHash64(number, 4) % {CONTENTS} AS content,
    toInt64({end_ms}) - toInt64(cityHash64(number, 5) % {DAYS * 86_400_000}) AS occ_ms
SELECT
    toString(generateUUIDv4(number)),
    fromUnixTimestamp64Milli(occ_ms, 'UTC'),
    types[pair],
    sources[pair],
    concat('u-', toString(learner)),
    concat('learner.', toString(learner), '@example.com'),
    if(pano = 0, '', concat('p-', toString(pano))),
    if(pano = 0, '', concat('Panorama ', toString(pano), ', Inc.')),
    concat('c-', toString(content)),
    ctypes[1 + content % {len(CONTENT_TYPES)}],
    concat(upper(substring(arrayStringConcat(arrayMap(i -> words[1 + cityHash64(content, i) % {len(WORDS)}],
        range(2 + content % 11)), ' ') AS t, 1, 1)), substring(t, 2)),
    concat('g-', toString(content % 50)),
    if(startsWith(sources[pair], 'manager'), concat('m-', toString(cityHash64(number, 6) % 100)), ''),
    if(startsWith(sources[pair], 'manager'), 'manager@example.com', ''),
    fromUnixTimestamp64Milli(occ_ms + 200 + toInt64(cityHash64(number, 7) % 2000), 'UTC'),
    topics[pair],
    toInt32(cityHash64(number, 8) % 3),
    toInt64(number)
FROM numbers({start}, {rows})
"""


_COLUMNS = (
    "event_id, occurred_at, action_type, source, learner_id, email, panorama_id, panorama_name, content_id, "
    "content_type, content_title, course_group_id, actor_id, actor_email, ingested_at, kafka_topic, "
    "kafka_partition, kafka_offset"
)
#: Duplicates left unmerged, as a live table has them, that a report must see through:
#: D1, ~1 in 20,000 events re-sent a day later (losing copies) re-pointed to the measured
#: filters' values (learner u-42, content c-7, group g-7, panorama p-7, type certificate_grant):
#: none may show. D2, 1 in 10 of u-42's and c-7's events re-sent with an *earlier* landing time
#: (winning copies) re-pointed to u-43 / c-8 / g-8 / p-8: u-42 and c-7 lose those rows.
TRAPS = (
    f"""INSERT INTO {TABLE} ({_COLUMNS})
SELECT event_id, occurred_at, 'certificate_grant', 'manual', 'u-42', 'Learner.42@Example.COM', 'p-7',
    'PANORAMA 7, Inc.', 'c-7', content_type, content_title, 'g-7', actor_id, actor_email,
    ingested_at + INTERVAL 1 DAY, kafka_topic, kafka_partition, kafka_offset
FROM {TABLE} WHERE learner_id != 'u-42' AND content_id != 'c-7' AND cityHash64(event_id) % 20000 = 0""",
    f"""INSERT INTO {TABLE} ({_COLUMNS})
SELECT event_id, occurred_at, action_type, source, 'u-43', 'learner.43@example.com', 'p-8', 'Panorama 8, Inc.',
    'c-8', content_type, content_title, 'g-8', actor_id, actor_email, ingested_at - INTERVAL 1 SECOND,
    kafka_topic, kafka_partition, kafka_offset
FROM {TABLE} WHERE (learner_id = 'u-42' OR content_id = 'c-7') AND cityHash64(event_id) % 10 = 0""",
)


#: Rows per ``INSERT … SELECT`` of `cmd_generate`: one 10M-row statement ran at 8k rows/s, 1M-row
#: ones at 55k rows/s (the engine sorts and writes each statement's blocks, and the filter keys'
#: view runs over them, in one go).
GENERATE_CHUNK = 1_000_000


def _parts(store: Store) -> int:
    rows = store.query_rows(
        "SELECT count() FROM system.parts WHERE database = 'actionlog' AND table = 'content_actions_log' AND active"
    )
    return int(rows[0][0])


def cmd_generate(path: str, rows: int, optimize: bool) -> dict[str, Any]:
    with open_store(path) as store:
        ensure_log_schema(store, store.settings.database, store.settings.table)
        started = time.monotonic()
        end_ms = int(time.time() * 1000)
        for start in range(0, rows, GENERATE_CHUNK):
            store.command(generate_sql(min(GENERATE_CHUNK, rows - start), end_ms, start))
        insert_s = time.monotonic() - started
        parts_before = _parts(store)
        optimize_s = 0.0
        if optimize:
            started = time.monotonic()
            store.command(f"OPTIMIZE TABLE {TABLE} FINAL")
            store.command(f"OPTIMIZE TABLE {TABLE}_filter_keys FINAL")
            optimize_s = time.monotonic() - started
        for trap in TRAPS:
            store.command(trap)
        count = int(store.query_rows(f"SELECT count() FROM {TABLE} FINAL")[0][0])
        stored = int(store.query_rows(f"SELECT count() FROM {TABLE}")[0][0])
        size, keys_size = store.query_rows(
            "SELECT sumIf(bytes_on_disk, table = 'content_actions_log'), "
            "sumIf(bytes_on_disk, table = 'content_actions_log_filter_keys') "
            "FROM system.parts WHERE database = 'actionlog' AND active"
        )[0]
        return {
            "rows": count,
            "stored_rows": stored,
            "keys_bytes_on_disk": int(keys_size),
            "insert_s": insert_s,
            "parts_before_optimize": parts_before,
            "parts": _parts(store),
            "optimize_s": optimize_s,
            "bytes_on_disk": int(size),
        }


#: Rows of the first page the report page asks for (``PAGE_SIZE`` of actionlog/web/static).
FIRST_PAGE = 50
ALL_TIME = {"from": ["1990-01-01"], "to": ["2100-01-01"]}
#: Every filter shape the page and the CLI can ask for, over all time (name → filters). The values
#: are those the traps (`TRAPS`) re-point duplicates to, so a wrong dedup would show here too.
SHAPES: dict[str, dict[str, list[str]]] = {
    "learner id": {"learner": ["u-42"]},
    "learner email": {"learner": ["LEARNER.42@example.com"]},
    "content": {"content": ["c-7"]},
    "course group": {"course-group": ["g-7"]},
    "panorama id": {"panorama": ["p-7"]},
    "panorama name": {"panorama": ["panorama 7, INC."]},
    "type + source": {"type": ["enrollment"], "source": ["sso"]},
    "learner + type": {"learner": ["u-42"], "type": ["enrollment"]},
    "learner + content (none)": {"learner": ["u-42"], "content": ["c-1234"]},
    "content + panorama": {"content": ["c-7"], "panorama": ["p-7"]},
    "course group + type + source": {"course-group": ["g-7"], "type": ["enrollment"], "source": ["sso"]},
    "panorama + content type": {"panorama": ["p-7"], "content-type": ["video"]},
    "a learner with no rows": {"learner": ["u-nobody"]},
    "type only": {"type": ["enrollment"]},
    "content type only": {"content-type": ["video"]},
    "no filter": {},
}


def report_cases(today: datetime) -> dict[str, dict[str, list[str]]]:
    """The report requests measured (CLI/HTTP parameters): every shape over all time, first page;
    the default 30-day panorama report's first 1,000 rows (as before)."""
    first = (today - timedelta(days=29)).date().isoformat()
    cases = {name: {**ALL_TIME, **shape, "limit": [str(FIRST_PAGE)]} for name, shape in SHAPES.items()}
    cases["panorama 30 days, 1,000 rows"] = {
        "from": [first],
        "to": [today.date().isoformat()],
        "panorama": ["p-7"],
        "limit": ["1000"],
    }
    return cases


def _ours(store: Store, filters: Any) -> tuple[float, int, list[Statement]]:
    """Our report (`report_chunks`, the CLI's and the endpoint's path); the statements it ran."""
    rec = Recording(store)
    started = time.perf_counter()
    size = sum(len(chunk) for chunk in report_chunks(rec, filters, EVERYTHING))  # type: ignore[arg-type]
    return time.perf_counter() - started, size, rec.statements


def _direct(store: Store, statements: list[Statement]) -> tuple[float, int]:
    """The ceiling: the same statements sent to the engine's client directly, one after the other
    (no planning, no framing of ours; the reads of one depend on the answers of the one before, so
    they are the statements of this very run)."""
    size = 0
    started = time.perf_counter()
    for st in statements:
        if st.fmt is None:
            size += len(store.client.query(st.sql, parameters=st.params).result_rows)
            continue
        raw = store.client.raw_stream(st.sql, parameters=st.params, fmt=st.fmt)
        try:
            while chunk := raw.read(CHUNK):
                size += len(chunk)
        finally:
            raw.close()
    return time.perf_counter() - started, size


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cmd_reports(path: str, runs: int, budget_s: float = 20.0) -> dict[str, Any]:
    """Each case: 2 warm-up rounds, then ``runs`` rounds alternating ours and the ceiling (ms); a
    slow case stops after ``budget_s`` seconds once it has 5 measured rounds."""
    now = datetime.now(UTC)
    out: dict[str, Any] = {}
    with open_store(path) as store:
        for name, params in report_cases(now).items():
            filters = parse_report_params(params, now=now)
            ours: list[float] = []
            direct: list[float] = []
            started = time.monotonic()
            for i in range(runs + 2):
                if len(ours) >= 5 and time.monotonic() - started > budget_s:
                    break
                a, _, statements = _ours(store, filters)
                b, _ = _direct(store, statements)
                if i >= 2:
                    ours.append(a * 1000)
                    direct.append(b * 1000)
            body = b"".join(report_chunks(store, filters, EVERYTHING))
            rows = body.count(b"\n") - 1  # CSV: the header line
            out[name] = {
                "params": params,
                "rows": rows,
                "statements": len(statements),
                "ours_p50": statistics.median(ours),
                "ours_p95": _pct(ours, 0.95),
                "direct_p50": statistics.median(direct),
                "direct_p95": _pct(direct, 0.95),
                "runs": len(ours),
            }
            print(f"{name}: {out[name]['ours_p50']:.0f} / {out[name]['direct_p50']:.0f} ms", file=sys.stderr)
    return out


def cmd_engine_export(path: str) -> dict[str, Any]:
    """The engine's own ``SELECT … FORMAT CSV`` of the full export's SQL, read 1 MiB at a time, discarded."""
    now = datetime.now(UTC)
    params = {"from": ["1990-01-01"], "to": ["2100-01-01"], "format": ["csv"]}
    filters = parse_report_params(params, now=now)
    with open_store(path) as store:
        q = build_report_query(filters, database=store.settings.database, scope=EVERYTHING, table=store.settings.table)
        seconds, size = _direct(store, [Statement(q.sql, q.params, clickhouse_format(filters.fmt))])
    return {"seconds": seconds, "bytes": size}


def cmd_freshness(path: str, since_ms: int) -> dict[str, Any]:
    """Quantiles of ingested_at - occurred_at (ms) of the rows published after ``since_ms``."""
    with open_store(path) as store:
        lag = "toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(occurred_at)"
        where = f"occurred_at >= fromUnixTimestamp64Milli({int(since_ms)}, 'UTC')"
        row = store.query_rows(
            f"SELECT count(), quantileExact(0.5)({lag}), quantileExact(0.99)({lag}), max({lag}) "
            f"FROM {TABLE} FINAL WHERE {where}"
        )[0]
        edge = (
            f"SELECT quantileExact(0.5)({lag}) FROM {TABLE} FINAL WHERE {where} AND occurred_at {{op}} "
            f"(SELECT {{agg}}(occurred_at) FROM {TABLE} WHERE {where}) {{sign}} INTERVAL 5 SECOND"
        )
        first_p50 = store.query_rows(edge.format(op="<", agg="min", sign="+"))[0][0]
        last_p50 = store.query_rows(edge.format(op=">=", agg="max", sign="-"))[0][0]
    return {
        "rows": int(row[0]),
        "p50_ms": float(row[1]),
        "p99_ms": float(row[2]),
        "max_ms": float(row[3]),
        "first_p50_ms": float(first_p50),
        "last_p50_ms": float(last_p50),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=("generate", "reports", "engine-export", "freshness", "baseline"))
    parser.add_argument("path")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--optimize", action="store_true")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--since-ms", type=int, default=0)
    args = parser.parse_args()
    if args.command == "generate":
        result = cmd_generate(args.path, args.rows, args.optimize)
    elif args.command == "reports":
        result = cmd_reports(args.path, args.runs)
    elif args.command == "engine-export":
        result = cmd_engine_export(args.path)
    elif args.command == "baseline":
        with open_store(args.path) as store:
            result = {"one": store.query_rows("SELECT 1")[0][0]}
    else:
        result = cmd_freshness(args.path, args.since_ms)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
