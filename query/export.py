"""The scheduled export job (CONTRACT §6): ``actionlog export --job NAME --output-dir DIR``.

Each run writes the rows that *landed* (``ingested_at``) in ``(lo, hi]`` — ``lo`` the ``hi`` of
the job's last committed run, ``hi`` the store's clock minus a safety lag — read ``FROM table
FINAL``. FINAL keeps the earliest-landed copy of an event, so a duplicate landing later
collapses into a row an earlier window already delivered, and a late event (old ``occurred_at``)
lands in the next window. How a run survives a crash at any point is in `run_export` and
docs/export.md.

Everything that touches the output directory (lock, temporary file, fsync, rename) and the
two-phase recording happens here, in the CLI process; the store is reached directly or, when a
running worker holds the embedded store, through its HTTP endpoint (`query.export_http`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from actionlog.errors import ActionlogError, BadParameter, ConfigError, ExportLocked, StoreError
from actionlog.output import fsync_dir
from actionlog.settings import Settings
from query.export_state import ExportBackend, JobState, RunRecord, StoreBackend, Window
from query.filters import ReportFilters, parse_report_params
from query.output import Framer
from sink.store import Store, worker_endpoint

__all__ = [
    "PAUSE_ENV",
    "PAUSE_POINTS",
    "SAFETY_LAG_ENV",
    "ExportResult",
    "file_name",
    "is_temp_of",
    "open_backend",
    "parse_export_params",
    "run_export",
    "safety_lag_ms",
    "validate_job",
]

SAFETY_LAG_ENV = "ACTIONLOG_EXPORT_SAFETY_LAG"
DEFAULT_SAFETY_LAG = 10.0
#: Test hook only: a run that reaches this named point prints one line to stderr and waits
#: forever, so a test can kill -9 it exactly there. Never set it in production.
PAUSE_ENV = "ACTIONLOG_EXPORT_TEST_PAUSE"
PAUSE_POINTS = ("before_write", "mid_write", "before_pending", "after_pending", "after_rename")
RUN_ID_WIDTH = 9

_JOB = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_STAMP = r"[0-9]{8}T[0-9]{9}Z"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- names (pure) ----------------------------------------------------------------------------
def validate_job(job: str) -> str:
    """Return ``job`` if it is a valid job name (``[A-Za-z0-9][A-Za-z0-9._-]{0,99}``).

    Raises:
        BadParameter: it is not.
    """
    if not isinstance(job, str) or not _JOB.fullmatch(job):
        shown = repr(job if len(job) <= 40 else job[:40] + "…")
        raise BadParameter("job", f"{shown} is not a job name (1-100 of A-Z a-z 0-9 . _ -, not starting with . _ -)")
    return job


def stamp(ms: int) -> str:
    """Epoch milliseconds as ``YYYYMMDDTHHMMSSmmmZ`` (UTC; sorts like the instants)."""
    t = _EPOCH + timedelta(milliseconds=ms)
    return f"{t:%Y%m%dT%H%M%S}{t.microsecond // 1000:03d}Z"


def iso(ms: int) -> str:
    """Epoch milliseconds as RFC 3339 with milliseconds, UTC."""
    t = _EPOCH + timedelta(milliseconds=ms)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z"


def file_name(job: str, run_id: int, lo_ms: int, hi_ms: int, fmt: str) -> str:
    """The name of a run's file: ``JOB.<run id, 9 digits>.<lo>-<hi>.<fmt>``; a job's names sort in
    run order (both the run id and the window grow with every run)."""
    return f"{job}.{run_id:0{RUN_ID_WIDTH}d}.{stamp(lo_ms)}-{stamp(hi_ms)}.{fmt}"


def temp_name(final: str) -> str:
    """The hidden temporary name a file is written under before it is renamed into place."""
    return f".{final}.part"


def lock_name(job: str) -> str:
    return f".{job}.lock"


def is_temp_of(job: str, name: str) -> bool:
    """Whether ``name`` is a temporary file of ``job`` (not of a job whose name extends it)."""
    pattern = rf"\.{re.escape(job)}\.[0-9]{{{RUN_ID_WIDTH},}}\.{_STAMP}-{_STAMP}\.(?:csv|json|ndjson)\.part"
    return re.fullmatch(pattern, name) is not None


def safety_lag_ms(env: Mapping[str, str], default: float = DEFAULT_SAFETY_LAG) -> int:
    """``ACTIONLOG_EXPORT_SAFETY_LAG`` (seconds, 0 allowed) in milliseconds.

    The default (see `default_safety_lag`) is 0 for the embedded store, whose single engine
    handle serializes every insert and query of the process that holds it: when the export asks
    for ``now`` no insert can be in flight, so every row stamped before it is visible. A server
    takes concurrent inserts, so the default there is the insert timeout (at least 10 s).

    Raises:
        ConfigError: not a number, or negative.
    """
    raw = env.get(SAFETY_LAG_ENV, "").strip()
    try:
        seconds = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{SAFETY_LAG_ENV}={raw!r} is not a number of seconds") from None
    if not 0 <= seconds <= 86_400:
        raise ConfigError(f"{SAFETY_LAG_ENV}={raw} must be between 0 and 86400 seconds")
    return round(seconds * 1000)


def default_safety_lag(settings: Settings) -> float:
    """0 s for the embedded store, the insert timeout (at least 10 s) for a server."""
    if settings.clickhouse.embedded:
        return 0.0
    return max(DEFAULT_SAFETY_LAG, settings.clickhouse.insert_timeout)


def parse_export_params(params: Mapping[str, Sequence[str]]) -> ReportFilters:
    """The report's filters, without the report's default range and without ``limit``.

    Raises:
        BadParameter: a bad filter, or ``limit`` (it would drop rows from the window).
    """
    filters = parse_report_params(params, now=datetime.now(UTC), default_days=None)
    if filters.limit is not None:
        raise BadParameter("limit", "is not supported by export: every row of the window is delivered")
    return filters


# -- result ----------------------------------------------------------------------------------
@dataclass
class ExportResult:
    """What one run did.

    Attributes:
        job: the job name.
        run_id: the run's number (the next run's, for a dry run or an empty window).
        rows: rows written (or, for a dry run, that would be).
        file: the file written, or None.
        lo_ms: the landing window's exclusive start (epoch ms).
        hi_ms: its inclusive end.
        dry_run: nothing was written or recorded.
        empty_window: ``hi <= lo`` (run again later); nothing was recorded.
        notes: what recovery did about an earlier run.
    """

    job: str
    run_id: int
    lo_ms: int
    hi_ms: int
    rows: int = 0
    file: Path | None = None
    dry_run: bool = False
    empty_window: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for stderr."""
        since = "" if self.lo_ms == 0 else f" after {iso(self.lo_ms)}"
        landed = f"landed{since} up to {iso(self.hi_ms)}"
        head = f"export job {self.job!r} run {self.run_id}"
        if self.empty_window:
            text = f"export job {self.job!r}: nothing to do, the last run ended less than the safety lag ago"
        elif self.dry_run:
            text = f"dry run: {head} would export {self.rows:,} rows {landed}; nothing written"
        elif self.file is None:
            text = f"{head}: no rows {landed}; no file written"
        else:
            text = f"{head}: {self.rows:,} rows {landed} -> {self.file}"
        return "; ".join([text, *self.notes])


# -- the run ---------------------------------------------------------------------------------
def open_backend(settings: Settings) -> ExportBackend:
    """The worker's HTTP endpoint when a running worker holds the embedded store, else the store."""
    endpoint = worker_endpoint(settings.clickhouse)
    if endpoint is not None:
        from query.export_http import HttpBackend

        return HttpBackend(endpoint)
    return StoreBackend(Store(settings.clickhouse).connect())


def run_export(
    settings: Settings,
    *,
    job: str,
    output_dir: Path,
    params: Mapping[str, Sequence[str]],
    dry_run: bool = False,
    safety_lag: float | None = None,
    backend: ExportBackend | None = None,
) -> ExportResult:
    """Run the export job ``job`` once (see docs/export.md).

    Order of a run, each step durable before the next: lock ``DIR/.JOB.lock``; finish the
    previous run if it is ``pending``; remove stale temporary files; stream the window into
    ``DIR/.FILE.part`` and fsync it and DIR; record ``pending``; rename it to ``DIR/FILE``; fsync
    DIR; record ``committed``. An empty window records ``committed`` with no file.

    Args:
        settings: where the store is.
        job: the job name (its watermark, lock and file names).
        output_dir: where files land; created if missing (not by a dry run).
        params: the report filters as `query.filters.parse_report_params` takes them.
        dry_run: only count the next window's rows; write and record nothing.
        safety_lag: seconds between the store's ``now`` and ``hi``; default from the environment.
        backend: the store operations (tests); default `open_backend`.

    Raises:
        BadParameter: bad job name, filter or output directory.
        ExportLocked: another run of the job holds the lock.
        StoreError: the store failed.
        ActionlogError: the output directory could not be written.
    """
    job = validate_job(job)
    filters = parse_export_params(params)
    lag_ms = safety_lag_ms(os.environ, default_safety_lag(settings)) if safety_lag is None else round(safety_lag * 1000)
    directory = Path(output_dir).expanduser()
    try:
        with _job_lock(directory, job, create=not dry_run):
            store = backend if backend is not None else open_backend(settings)
            try:
                return _run(store, job, directory, filters, params, lag_ms, dry_run)
            finally:
                if backend is None:
                    store.close()
    except OSError as exc:
        raise ActionlogError(f"export job {job}: cannot write to {directory}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _job_lock(directory: Path, job: str, *, create: bool) -> Iterator[None]:
    if not directory.is_dir():
        if not create:
            yield  # a dry run in a directory that does not exist yet: no run can hold it
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadParameter("output-dir", f"cannot create {str(directory)!r}: {exc.strerror or exc}") from None
    path = directory / lock_name(job)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportLocked(f"export job {job} is already running (lock {path})") from None
        yield
    finally:
        os.close(fd)  # releases the lock; the lock file stays (removing it would race)


def _run(
    backend: ExportBackend,
    job: str,
    directory: Path,
    filters: ReportFilters,
    params: Mapping[str, Sequence[str]],
    lag_ms: int,
    dry_run: bool,
) -> ExportResult:
    state = backend.job_state(job)
    lo_ms, notes = _recover(backend, state, directory, write=not dry_run)
    if not dry_run:
        _remove_stale_temps(directory, job)
    run_id = (state.latest.run_id if state.latest else 0) + 1
    hi_ms = backend.now_ms() - lag_ms
    result = ExportResult(job=job, run_id=run_id, lo_ms=lo_ms, hi_ms=hi_ms, dry_run=dry_run, notes=notes)
    if hi_ms <= lo_ms:
        result.empty_window = True
        return result
    window = Window(job=job, filters=filters, params=params, lo_ms=lo_ms, hi_ms=hi_ms)
    if dry_run:
        result.rows = backend.count(window)
        return result
    described = orjson.dumps({k: list(v) for k, v in params.items()}, option=orjson.OPT_SORT_KEYS).decode()
    run = RunRecord(job=job, run_id=run_id, state="pending", lo_ms=lo_ms, hi_ms=hi_ms, filters=described)
    name = file_name(job, run_id, lo_ms, hi_ms, filters.fmt)
    result.rows = _write_and_commit(backend, directory, name, window, run)
    result.file = directory / name if result.rows else None
    return result


def _write_and_commit(backend: ExportBackend, directory: Path, name: str, window: Window, run: RunRecord) -> int:
    final, temp = directory / name, directory / temp_name(name)
    framer = Framer(window.filters.fmt)
    handed_over = False  # once `pending` may be recorded, the temp file belongs to recovery
    _pause("before_write")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(framer.start())
            for i, chunk in enumerate(backend.window_chunks(window)):
                out.write(framer.feed(chunk))
                if i == 0:
                    out.flush()
                    _pause("mid_write")
            out.write(framer.finish())
            out.flush()
            os.fsync(out.fileno())
        rows = framer.rows
        if rows == 0:
            temp.unlink()
            backend.record(replace(run, state="committed"))
            return 0
        fsync_dir(directory)  # the complete temp file survives a power loss from here on
        _pause("before_pending")
        handed_over = True
        pending = replace(run, rows=rows, file=name)
        backend.record(pending)
    except BaseException:
        if not handed_over:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        raise
    _pause("after_pending")
    _publish(temp, final, directory)
    _pause("after_rename")
    try:
        backend.record(replace(pending, state="committed"))
    except StoreError as exc:
        raise StoreError(f"{exc} (the file {final} is complete; the next run records it committed)") from None
    return rows


def _publish(temp: Path, final: Path, directory: Path) -> None:
    """Make ``temp`` visible as ``final`` atomically, never replacing an existing file."""
    try:
        os.link(temp, final)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: rename (checked, not race-free)
        if final.exists():
            raise FileExistsError(final) from None
        os.rename(temp, final)
    else:
        os.unlink(temp)
    fsync_dir(directory)


def _recover(backend: ExportBackend, state: JobState, directory: Path, *, write: bool) -> tuple[int, list[str]]:
    """Finish the job's latest run if it is ``pending``; return the watermark and what was done.

    A run is recorded ``pending`` only after its complete temporary file was fsynced, so it rolls
    forward: its file is in place (renamed just before a crash), or its temporary file is
    renamed now, or neither exists because a consumer already took the file; in each case the
    run is recorded ``committed``. Only ``write`` changes anything.
    """
    run = state.latest
    if run is None or run.state != "pending":
        return state.committed_hi_ms, []
    if Path(run.file).name != run.file or not run.file:
        raise StoreError(f"export job {run.job}: run {run.run_id} records a bad file name {run.file!r}")
    final, temp = directory / run.file, directory / temp_name(run.file)
    if final.exists():
        how = "its file was in place"
    elif temp.exists():
        how = "its complete temporary file was renamed into place"
        if write:
            _publish(temp, final, directory)
    else:
        how = f"its file is no longer in {directory} (taken by a consumer?)"
    if write:
        backend.record(replace(run, state="committed"))
    verb = "recovered" if write else "would recover"
    return max(state.committed_hi_ms, run.hi_ms), [f"{verb} interrupted run {run.run_id}: {how}, committed"]


def _remove_stale_temps(directory: Path, job: str) -> None:
    for entry in os.scandir(directory):
        if is_temp_of(job, entry.name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def _pause(point: str) -> None:
    if os.environ.get(PAUSE_ENV) == point:
        sys.stderr.write(f"actionlog export: paused at {point} ({PAUSE_ENV}, a test hook)\n")
        sys.stderr.flush()
        threading.Event().wait()
