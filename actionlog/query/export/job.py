"""The scheduled export job (docs/export.md): ``actionlog export --job NAME --output-dir DIR``.

Each run writes the rows that *landed* (``ingested_at``) in ``(lo, hi]`` — ``lo`` the ``hi`` of
the job's last committed run, ``hi`` the store's clock minus a safety lag — read ``FROM table
FINAL``. FINAL keeps the earliest-landed copy of an event, so a duplicate landing later
collapses into a row an earlier window already delivered, and a late event (old ``occurred_at``)
lands in the next window. How a run survives a crash at any point is in `run_export` and
docs/export.md.

Everything that touches the output directory (lock, temporary file, fsync, rename) and the
two-phase recording happens here, in the exporting process, whichever way it reaches the store
(`actionlog.store.open_store`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson

from actionlog.core.errors import ActionlogError, BadParameter, ExportLocked, StoreError
from actionlog.core.files import fsync_dir
from actionlog.core.seams import Seams
from actionlog.core.settings import Settings
from actionlog.query.export.plan import (
    file_name,
    is_temp_of,
    iso,
    lock_name,
    parse_export_params,
    safety_lag_ms,
    temp_name,
    validate_job,
)
from actionlog.query.export.state import ExportBackend, JobState, RunRecord, StoreBackend, Window
from actionlog.query.filters import ReportFilters
from actionlog.query.framing import Framer
from actionlog.store import open_store

__all__ = ["ExportResult", "run_export"]


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
def run_export(
    settings: Settings,
    *,
    job: str,
    output_dir: Path,
    params: Mapping[str, Sequence[str]],
    dry_run: bool = False,
    backend: ExportBackend | None = None,
) -> ExportResult:
    """Run the export job ``job`` once (see docs/export.md).

    Order of a run, each step durable before the next: lock ``DIR/.JOB.lock``; finish the
    previous run if it is ``pending``; remove stale temporary files; stream the window into
    ``DIR/.FILE.part`` and fsync it and DIR; record ``pending``; rename it to ``DIR/FILE``; fsync
    DIR; record ``committed``. An empty window records ``committed`` with no file.

    Args:
        settings: where the store is, the safety lag and the test seams.
        job: the job name (its watermark, lock and file names).
        output_dir: where files land; created if missing (not by a dry run).
        params: the report filters as `actionlog.query.filters.parse_report_params` takes them.
        dry_run: only count the next window's rows; write and record nothing.
        backend: the store operations (tests); default a `StoreBackend` on `open_store`.

    Raises:
        BadParameter: bad job name, filter or output directory.
        ExportLocked: another run of the job holds the lock.
        StoreError: the store failed.
        ActionlogError: the output directory could not be written.
    """
    job = validate_job(job)
    filters = parse_export_params(params)
    lag_ms = safety_lag_ms(settings)
    directory = Path(output_dir).expanduser()
    try:
        with _job_lock(directory, job, create=not dry_run):
            store = backend if backend is not None else StoreBackend(open_store(settings.clickhouse, role="export"))
            try:
                return _run(store, job, directory, filters, params, lag_ms, dry_run, settings.seams)
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
    seams: Seams,
) -> ExportResult:
    state = backend.job_state(job)
    lo_ms, notes = _recover(backend, state, directory, write=not dry_run)
    if not dry_run:
        _remove_stale_temps(directory, job)
    run_id = (state.latest.run_id if state.latest else 0) + 1
    # The clock was read with no insert in flight, but one may start within the same millisecond
    # and stamp its rows with it: the window ends just before that millisecond.
    hi_ms = backend.now_ms() - 1 - lag_ms
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
    result.rows = _write_and_commit(backend, directory, name, window, run, seams)
    result.file = directory / name if result.rows else None
    return result


def _write_and_commit(
    backend: ExportBackend, directory: Path, name: str, window: Window, run: RunRecord, seams: Seams
) -> int:
    final, temp = directory / name, directory / temp_name(name)
    framer = Framer(window.filters.fmt)
    handed_over = False  # once `pending` may be recorded, the temp file belongs to recovery
    seams.pause_export("before_write")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(framer.start())
            for i, chunk in enumerate(backend.window_chunks(window)):
                out.write(framer.feed(chunk))
                if i == 0:
                    out.flush()
                    seams.pause_export("mid_write")
            out.write(framer.finish())
            out.flush()
            os.fsync(out.fileno())
        rows = framer.rows
        if rows == 0:
            temp.unlink()
            backend.record(replace(run, state="committed"))
            return 0
        fsync_dir(directory)  # the complete temp file survives a power loss from here on
        seams.pause_export("before_pending")
        handed_over = True
        pending = replace(run, rows=rows, file=name)
        backend.record(pending)
    except BaseException:
        if not handed_over:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        raise
    seams.pause_export("after_pending")
    _publish(temp, final, directory)
    seams.pause_export("after_rename")
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
