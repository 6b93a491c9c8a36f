"""Pure rules of the export job: job names, file names, the safety lag, the filters it takes."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from actionlog.core.errors import BadParameter
from actionlog.core.settings import Settings
from actionlog.query.filters import ReportFilters, parse_report_params

__all__ = [
    "DEFAULT_SAFETY_LAG",
    "RUN_ID_WIDTH",
    "file_name",
    "is_temp_of",
    "iso",
    "lock_name",
    "parse_export_params",
    "safety_lag_ms",
    "stamp",
    "temp_name",
    "validate_job",
]

#: The least safety lag with a ClickHouse server, in seconds.
DEFAULT_SAFETY_LAG = 10.0
RUN_ID_WIDTH = 9

_JOB = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_STAMP = r"[0-9]{8}T[0-9]{9}Z"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def is_file_of(job: str, name: str) -> bool:
    """Whether ``name`` is a (final) file name of ``job``'s own pattern."""
    pattern = rf"{re.escape(job)}\.[0-9]{{{RUN_ID_WIDTH},}}\.{_STAMP}-{_STAMP}\.(?:csv|json|ndjson)"
    return re.fullmatch(pattern, name) is not None


def temp_name(final: str) -> str:
    """The hidden temporary name a file is written under before it is renamed into place."""
    return f".{final}.part"


def lock_name(job: str) -> str:
    return f".{job}.lock"


def is_temp_of(job: str, name: str) -> bool:
    """Whether ``name`` is a temporary file of ``job`` (not of a job whose name extends it)."""
    return name.startswith(".") and name.endswith(".part") and is_file_of(job, name[1 : -len(".part")])


def safety_lag_ms(settings: Settings) -> int:
    """The safety lag in milliseconds: ``ACTIONLOG_EXPORT_SAFETY_LAG`` when set, else the default.

    The default is 0 for the embedded store, whose single engine serializes every insert and
    query of the process that holds it: when the export asks for ``now`` no insert can be in
    flight, so every row stamped before it is visible. A server takes concurrent inserts, so the
    default there is the insert timeout, at least `DEFAULT_SAFETY_LAG` seconds.
    """
    seconds = settings.export.safety_lag
    if seconds is None:
        ch = settings.clickhouse
        seconds = 0.0 if ch.embedded else max(DEFAULT_SAFETY_LAG, ch.insert_timeout)
    return round(seconds * 1000)


def parse_export_params(params: Mapping[str, Sequence[str]]) -> ReportFilters:
    """The report's filters, without the report's default range and without ``limit``.

    Raises:
        BadParameter: a bad filter, or ``limit`` (it would drop rows from the window).
    """
    filters = parse_report_params(params, now=datetime.now(UTC), default_days=None)
    if filters.limit is not None:
        raise BadParameter("limit", "is not supported by export: every row of the window is delivered")
    return filters
