"""State of the export jobs (docs/export.md), kept in ClickHouse next to the data, and the store
operations an export run needs.

Table ``{db}.export_runs`` is an append-only log of run states: a run is recorded ``pending``
(its file is complete but not yet visible under its final name) and then ``committed``, or
directly ``committed`` when it found no rows. The state of a run is its last record
(``committed``/``aborted`` outrank ``pending``, a later record a former one); the job's watermark
is the largest ``hi_ms`` of its committed runs. The exporter itself never writes ``aborted``: an
operator records it for the latest run to have that run's window exported again (docs/export.md).

Every value travels as a ``{name:Type}`` query parameter: the job name is user input.

`ExportBackend` is what `actionlog.query.export.job` needs from a store; `StoreBackend`
implements it on any `actionlog.store.Store` (the engine, or the worker that holds it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from actionlog.core.errors import ActionlogError
from actionlog.core.scope import Scope
from actionlog.query.export.plan import is_file_of
from actionlog.query.filters import ReportFilters
from actionlog.query.report import LandingWindow, limits_of, report_rows
from actionlog.query.sql import Query, build_count_query
from actionlog.store import Store
from actionlog.store.schema import ensure_log_schema
from actionlog.store.sqltext import qualified

__all__ = [
    "RUNS_TABLE",
    "STATES",
    "ExportBackend",
    "JobState",
    "RunRecord",
    "StoreBackend",
    "Window",
    "check_record",
    "committed_hi_query",
    "latest_run_query",
    "record_query",
    "runs_ddl",
]

RUNS_TABLE = "export_runs"
STATES: tuple[str, ...] = ("pending", "committed", "aborted")

_DDL = """
CREATE TABLE IF NOT EXISTS {table}
(
    job         String,
    run_id      UInt64,
    state       LowCardinality(String),
    lo_ms       Int64,
    hi_ms       Int64,
    row_count   UInt64,
    file_name   String,
    filters     String,
    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3),
    lo          DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(lo_ms, 'UTC'),
    hi          DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(hi_ms, 'UTC')
)
ENGINE = MergeTree
ORDER BY (job, run_id, recorded_at)
"""
_RUN_FIELDS = ("state", "lo_ms", "hi_ms", "row_count", "file_name", "filters")


@dataclass(frozen=True)
class RunRecord:
    """One recorded state of one run of a job.

    Attributes:
        job: the job name.
        run_id: 1, 2, ... per job (empty runs take a number too).
        state: ``pending``, ``committed`` or ``aborted``.
        lo_ms: the landing window's exclusive start (epoch ms of ``ingested_at``).
        hi_ms: its inclusive end.
        rows: rows in the file.
        file: the file's name in the output directory; empty when no file was written.
        filters: the run's parameters as JSON (for the record only).
    """

    job: str
    run_id: int
    state: str
    lo_ms: int
    hi_ms: int
    rows: int = 0
    file: str = ""
    filters: str = "{}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        """Build a record from `to_json` output (e.g. an HTTP body), checking every type.

        Raises:
            ValueError: a field is missing or of the wrong type, or the state is unknown.
        """
        try:
            record = cls(
                job=_typed(data, "job", str),
                run_id=_typed(data, "run_id", int),
                state=_typed(data, "state", str),
                lo_ms=_typed(data, "lo_ms", int),
                hi_ms=_typed(data, "hi_ms", int),
                rows=_typed(data, "rows", int),
                file=_typed(data, "file", str),
                filters=_typed(data, "filters", str),
            )
        except KeyError as exc:
            raise ValueError(f"missing field {exc}") from None
        if record.state not in STATES:
            raise ValueError(f"unknown state {record.state!r}")
        if record.run_id < 1 or record.rows < 0:
            raise ValueError("run_id must be positive and rows not negative")
        return record


def _typed(data: Mapping[str, Any], key: str, kind: type) -> Any:
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{key} must be a {kind.__name__}")
    return value


@dataclass(frozen=True)
class JobState:
    """What a run needs to know about the job's history.

    Attributes:
        latest: the state of the job's latest run, or None before the first.
        committed_hi_ms: the watermark: ``hi_ms`` of the latest committed run (0 before any).
    """

    latest: RunRecord | None
    committed_hi_ms: int

    def to_json(self) -> dict[str, Any]:
        return {"latest": self.latest.to_json() if self.latest else None, "committed_hi_ms": self.committed_hi_ms}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobState:
        latest = data.get("latest")
        return cls(
            latest=RunRecord.from_json(latest) if latest is not None else None,
            committed_hi_ms=_typed(data, "committed_hi_ms", int),
        )


@dataclass(frozen=True)
class Window:
    """The rows of one run of ``job``: the filters (and the raw parameters they came from) and the
    landing window ``lo_ms < ingested_at <= hi_ms``."""

    job: str
    filters: ReportFilters
    params: Mapping[str, Sequence[str]]
    lo_ms: int
    hi_ms: int


class ExportBackend(Protocol):
    """The store operations of an export run. Every method may raise StoreError."""

    def job_state(self, job: str) -> JobState: ...

    def record(self, run: RunRecord) -> None: ...

    def now_ms(self) -> int: ...

    def window_chunks(self, window: Window) -> Iterator[bytes]:
        """Yield the window's rows as ClickHouse output in ``clickhouse_format(filters.fmt)``."""
        ...

    def count(self, window: Window) -> int: ...

    def close(self) -> None: ...


# -- SQL (pure) ------------------------------------------------------------------------------
def _runs_table(database: str) -> str:
    return qualified(database, RUNS_TABLE)


def runs_ddl(database: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of the state table in ``database``."""
    return _DDL.format(table=_runs_table(database))


def _runs_subquery(database: str) -> str:
    """Each run of ``{job:String}`` in its latest state (``committed``/``aborted`` outrank ``pending``)."""
    picked = ", ".join(f"argMax({name}, rank) AS {name}" for name in _RUN_FIELDS)
    return (
        f"SELECT run_id, {picked}\n"
        f"FROM (SELECT *, (state != 'pending', recorded_at) AS rank FROM {_runs_table(database)}"
        " WHERE job = {job:String})\n"
        "GROUP BY run_id"
    )


def latest_run_query(database: str, job: str) -> Query:
    """The latest run of ``job`` in its latest state: 0 or 1 row of
    ``run_id, state, lo_ms, hi_ms, row_count, file_name, filters``."""
    sql = f"{_runs_subquery(database)}\nORDER BY run_id DESC\nLIMIT 1"
    return Query(sql=sql, params={"job": job})


def committed_hi_query(database: str, job: str) -> Query:
    """The watermark of ``job``: one row, the largest ``hi_ms`` of a run whose latest state is
    ``committed`` (0, or NULL on a server that says so for an empty max, if none)."""
    sql = f"SELECT max(hi_ms) FROM (\n{_runs_subquery(database)}\n)\nWHERE state = 'committed'"
    return Query(sql=sql, params={"job": job})


def record_query(database: str, run: RunRecord) -> Query:
    """The ``INSERT`` of one state record (``INSERT ... SELECT`` of bound parameters: never async)."""
    if run.state not in STATES:
        raise ValueError(f"unknown state {run.state!r}")
    sql = (
        f"INSERT INTO {_runs_table(database)} (job, run_id, state, lo_ms, hi_ms, row_count, file_name, filters)\n"
        "SELECT {job:String}, {run_id:UInt64}, {state:String}, {lo_ms:Int64}, {hi_ms:Int64},"
        " {rows:UInt64}, {file:String}, {filters:String}"
    )
    return Query(sql=sql, params=run.to_json())


def check_record(state: JobState, run: RunRecord, now_ms: int) -> None:
    """Refuse a record that would corrupt a job's history.

    The exporter only ever records a new run (number latest + 1) as ``pending`` or, for an empty
    window, straight as ``committed``, and then its ``pending`` run as ``committed``. Its window
    starts at the job's watermark and never ends beyond the store's clock (a watermark in the
    future would make the job export nothing for that long), and its file has the job's own name
    pattern. ``aborted`` is an operator's decision, recorded with SQL (docs/export.md), never here.

    Raises:
        ActionlogError: anything else.
    """
    latest = state.latest
    if run.state == "aborted":
        raise ActionlogError("an export run is recorded aborted by an operator, with SQL, not by the exporter")
    if not 0 <= run.lo_ms < run.hi_ms <= now_ms:
        raise ActionlogError(f"export run window ({run.lo_ms}, {run.hi_ms}] is not within (0, now={now_ms}]")
    if run.file and not is_file_of(run.job, run.file):
        raise ActionlogError(f"export file name {run.file!r} is not of job {run.job!r}'s pattern")
    if latest is not None and latest.run_id == run.run_id:
        same = (latest.lo_ms, latest.hi_ms, latest.file) == (run.lo_ms, run.hi_ms, run.file)
        if not (latest.state == "pending" and run.state == "committed" and same):
            raise ActionlogError(f"export run {run.run_id} of {run.job!r} cannot go from {latest.state} to {run.state}")
        return
    expected = (latest.run_id if latest else 0) + 1
    if run.run_id != expected or run.lo_ms != state.committed_hi_ms:
        raise ActionlogError(
            f"export run {run.run_id} of {run.job!r} must be run {expected}, starting at {state.committed_hi_ms}"
        )


# -- I/O on a Store ---------------------------------------------------------------------------
class StoreBackend:
    """`ExportBackend` on an open `Store`; creates the schema (idempotent) on first use.

    Args:
        store: the store; `close` closes it.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ready = False

    def ensure(self) -> str:
        """Create the schema if missing (once per backend); return the database name."""
        if not self._ready:
            ensure_log_schema(self.store, self.store.settings.database, self.store.settings.table)
            self.store.command(runs_ddl(self.store.settings.database))
            self._ready = True
        return self.store.settings.database

    def job_state(self, job: str) -> JobState:
        db = self.ensure()
        q = latest_run_query(db, job)
        rows = self.store.query_rows(q.sql, q.params)
        latest = None
        if rows:
            run_id, state, lo_ms, hi_ms, count, file, filters = rows[0]
            latest = RunRecord(job, int(run_id), str(state), int(lo_ms), int(hi_ms), int(count), str(file), filters)
        q = committed_hi_query(db, job)
        hi = self.store.query_rows(q.sql, q.params)
        return JobState(latest=latest, committed_hi_ms=int(hi[0][0] or 0) if hi else 0)

    def record(self, run: RunRecord) -> None:
        """Record a run's state, after checking it against the job's history and the store's clock.

        Raises:
            ActionlogError: the record would corrupt the job's history (see `check_record`).
        """
        check_record(self.job_state(run.job), run, self.now_ms())
        q = record_query(self.ensure(), run)
        self.store.command(q.sql, q.params)

    def now_ms(self) -> int:
        return self.store.clock_ms()

    def window_chunks(self, window: Window) -> Iterator[bytes]:
        self.ensure()
        return report_rows(self.store, window.filters, Scope.everything(), LandingWindow(window.lo_ms, window.hi_ms))

    def count(self, window: Window) -> int:
        self.ensure()
        q = build_count_query(
            window.filters,
            scope=Scope.everything(),
            database=self.store.settings.database,
            table=self.store.settings.table,
            ingested_after_ms=window.lo_ms,
            ingested_until_ms=window.hi_ms,
            limits=limits_of(self.store),
        )
        return int(self.store.query_rows(q.sql, q.params)[0][0])

    def close(self) -> None:
        self.store.close()
