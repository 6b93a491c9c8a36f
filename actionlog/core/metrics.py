"""Prometheus metrics of a worker, in a registry of their own (served on GET /metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


def _registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


@dataclass
class Metrics:
    """Every metric the worker exposes. Build one per process at the entry point."""

    registry: CollectorRegistry = field(default_factory=_registry)

    def __post_init__(self) -> None:
        r = self.registry
        self.accepted = Counter(
            "actionlog_events_accepted", "Upstream events written to the event log", ["type"], registry=r
        )
        self.rejected = Counter(
            "actionlog_events_rejected", "Upstream events sent to the dead-letter topic", ["reason"], registry=r
        )
        self.produce_retries = Counter(
            "actionlog_produce_retries", "Produce attempts of the normalizer that failed and were retried", registry=r
        )
        self.sink_rows = Counter("actionlog_sink_rows", "Rows inserted into ClickHouse by the sink", registry=r)
        self.sink_batches = Counter("actionlog_sink_batches", "Batches inserted into ClickHouse", registry=r)
        self.sink_failures = Counter(
            "actionlog_sink_insert_failures", "Insert attempts that failed and will be retried", registry=r
        )
        self.sink_set_aside = Counter(
            "actionlog_sink_set_aside",
            "Log records written to the set-aside topic instead of the store (undecodable, refused)",
            ["reason"],
            registry=r,
        )
        self.sink_suppressed = Counter(
            "actionlog_sink_suppressed", "Log records of erased learners kept out of the store", registry=r
        )
        self.sink_splits = Counter(
            "actionlog_sink_block_splits", "Insert blocks cut in pieces (too many partitions, refused rows)", registry=r
        )
        self.sink_insert_seconds = Histogram(
            "actionlog_sink_insert_seconds",
            "Time to insert one batch",
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.sink_buffered = Gauge("actionlog_sink_buffered_rows", "Rows waiting in the sink's buffer", registry=r)
        self.sink_partitions = Gauge(
            "actionlog_sink_partitions", "Partitions of the log this sink was assigned last", registry=r
        )
        self.http_downloads = Gauge("actionlog_http_downloads", "Report downloads being streamed", registry=r)
        self.http_downloads_cut = Counter(
            "actionlog_http_downloads_cut",
            "Downloads cut because the client took no data for the write timeout",
            registry=r,
        )
        self.http_refused = Counter(
            "actionlog_http_refused",
            "Requests refused by a limit (busy: too many downloads; connections; head_too_large; head_timeout)",
            ["why"],
            registry=r,
        )

    def normalizer_counts(self) -> dict[tuple[str, str | None], float]:
        """The normalizer's counters, ``(attribute, label value or None) → total``: what a
        normalizer process passes on to the process that serves ``/metrics`` (`add_counts`)."""
        out: dict[tuple[str, str | None], float] = {}
        for attribute, label in _NORMALIZER_COUNTERS:
            counter: Counter = getattr(self, attribute)
            for metric in counter.collect():
                for sample in metric.samples:
                    if sample.name.endswith("_total"):
                        out[(attribute, sample.labels[label] if label else None)] = sample.value
        return out

    def add_counts(self, deltas: dict[tuple[str, str | None], float]) -> None:
        """Add another process's counts (differences of `normalizer_counts`) to these counters."""
        for (attribute, label), value in deltas.items():
            if attribute in _ATTRIBUTES and value > 0:
                counter: Counter = getattr(self, attribute)
                (counter.labels(label) if label is not None else counter).inc(value)


_NORMALIZER_COUNTERS = (("accepted", "type"), ("rejected", "reason"), ("produce_retries", None))
_ATTRIBUTES = frozenset(a for a, _ in _NORMALIZER_COUNTERS)
