"""End-to-end ingest under several settings, alternating on one broker: which setting costs less.

    python bench/ingest_variants.py '{"old": {"ACTIONLOG_SINK_BATCH_ROWS": "10000"}, "now": {}}' \
        [--rounds 2] [--events 200000] [--processes 2] [--engine aiokafka] [--kafka-port 29193] [--warmup 1]

Each variant is a set of environment variables given to the worker (`bench/ingest.py` `run_e2e`).
Prints one line per run (events/s from the first event accepted, CPU per event over every process
and the broker, the broker's CPU seconds) and a JSON summary at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from harness import Broker, say
from ingest import make_payload, run_e2e


def _with_env(env: dict[str, str], call: Any) -> Any:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return call()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("variants", help='JSON: {"name": {"ENV_VAR": "value", ...}, ...}')
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--engine", default="aiokafka", choices=("aiokafka", "faust"))
    parser.add_argument("--kafka-port", type=int, default=29193)
    parser.add_argument(
        "--warmup", type=int, default=1, help="unmeasured runs first (the broker's JVM is slower and costlier at first)"
    )
    args = parser.parse_args()
    variants: dict[str, dict[str, str]] = json.loads(args.variants)
    payload = make_payload(args.events)
    tmp = Path(tempfile.mkdtemp(prefix="actionlog-variants-"))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    with Broker(args.kafka_port) as broker:
        for _ in range(args.warmup):
            say("warm-up run (not counted)")
            run_e2e(broker, tmp, payload, processes=args.processes, engine=args.engine)
        for _ in range(args.rounds):
            for name, env in variants.items():
                r = _with_env(env, lambda: run_e2e(broker, tmp, payload, processes=args.processes, engine=args.engine))
                run = {"eps": r["eps"], "cpu_per_event_us": r["cpu_per_event_us"], "broker_cpu_s": r["broker_cpu_s"]}
                runs[name].append(run)
                say(
                    f"{name}: {run['eps']:,.0f}/s, {run['cpu_per_event_us']:.0f} µs of CPU per event, "
                    f"broker {run['broker_cpu_s']:.1f} s"
                )
    print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
