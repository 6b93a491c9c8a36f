"""Benchmark of the sink's suppression check: what keeping erased learners out costs a batch.

Usage::

    python bench/bench_suppression.py [--rows N] [--erased K] [--rounds R]

Builds a batch of N log rows (current-schema Avro bodies, 5,000 distinct learners) and times
`SinkSuppression.filter` on it, best of R rounds, in CPU time of this process:

* **empty list**: the store never erased anyone (the fast path: nothing is decoded);
* **K erased**: the list holds K learners' hashes (every body decoded and tested).

No store is touched: the list is set as the sink would hold it after `refresh`.
"""

from __future__ import annotations

import argparse
import time

from actionlog.core.avro import HEADER_LEN, AvroCodec
from actionlog.core.metrics import Metrics
from actionlog.core.privacy import Suppressed, learner_hashes
from actionlog.core.record import LogRecord
from actionlog.core.settings import Settings
from actionlog.sink.batch import Batch
from actionlog.sink.suppression import SinkSuppression
from testkit.rows import row

KEY = b"bench-erasure-key-0123456789abcdef"


def bodies(n: int) -> list[bytes]:
    codec = AvroCodec()
    return [
        codec.encode(
            LogRecord(**row(event_id=f"e-{i}", learner_id=f"u-{i % 5000}", email=f"learner{i % 5000}@example.com"))
        )[HEADER_LEN:]
        for i in range(n)
    ]


def best(suppression: SinkSuppression, rows: list[bytes], rounds: int) -> tuple[float, float, int]:
    """(first round, best round, rows dropped): the first round hashes every learner once, the
    next ones find their verdicts remembered (learners recur from batch to batch)."""
    times, dropped = [], 0
    for _ in range(rounds):
        batch = Batch()
        for offset, body in enumerate(rows):
            batch.add(0, offset, body)
        started = time.process_time()
        dropped = suppression.filter(batch)
        times.append(time.process_time() - started)
    return times[0], min(times), dropped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--erased", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = bodies(args.rows)
    suppression = SinkSuppression(Settings.from_env({}), None, AvroCodec(), Metrics())  # type: ignore[arg-type]
    _, empty, _ = best(suppression, rows, args.rounds)
    erased = [f"u-{i}" for i in range(args.erased)]
    mails = [f"learner{i}@example.com" for i in range(args.erased)]
    suppression.suppressed = Suppressed(KEY, frozenset(learner_hashes(KEY, erased, mails)))
    cold, full, dropped = best(suppression, rows, args.rounds)
    print(f"batch of {args.rows} rows, best of {args.rounds} rounds (CPU time)")
    print(f"empty list: {empty * 1e3:.3f} ms ({empty / args.rows * 1e6:.3f} us/row)")
    print(f"{args.erased} erased learners, first batch (every learner hashed): {cold * 1e3:.1f} ms")
    per_row = full / args.rows * 1e6
    print(f"{args.erased} erased learners, next batches: {full * 1e3:.1f} ms ({per_row:.2f} us/row), {dropped} dropped")


if __name__ == "__main__":
    main()
