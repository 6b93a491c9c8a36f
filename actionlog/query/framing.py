"""Pure byte transforms from ClickHouse output to the report body (docs/report.md).

The I/O layer runs the statement of `actionlog.query.sql` in the format
``clickhouse_format(fmt)`` and passes every chunk it reads through a `Framer`:

* ``csv``: our header line, then ClickHouse's ``CSV`` output as is (every value
  double-quoted, ``""`` inside, CRLF row ends);
* ``ndjson``: ClickHouse's ``JSONEachRow`` as is (one object per ``\\n``-ended line);
* ``json``: the same objects as one array, ``[\\n{...},\\n{...}\\n]\\n``; no rows
  give ``[]\\n``.

Chunks may be split anywhere (inside a row, inside a UTF-8 character): nothing
here decodes text. The work per chunk is a few C-level ``bytes`` operations, so
a 1 MiB chunk costs about a memory copy.

`Framer.rows` counts the rows fed so far, exactly: for JSON a row ends at each
``\\n`` (JSON escapes newlines inside strings); for CSV at each ``\\n`` outside
double quotes (titles may hold raw newlines inside quotes; a ``""`` escape
toggles the quote state twice, so counting quote parity is exact).
"""

from __future__ import annotations

from datetime import timedelta

from actionlog.query.filters import FORMATS, ReportFilters, tzinfo_of

__all__ = ["CSV_HEADER", "FILENAME_PREFIX", "Framer", "RowCounter", "content_type", "download_filename"]

CSV_HEADER: bytes = b"Email,Panorama Name,Content Type,Content Title,Type,Source,Timestamp\r\n"
FILENAME_PREFIX = "content-actions-log"

_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
}


def _check(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}")
    return fmt


def content_type(fmt: str) -> str:
    """Return the HTTP ``Content-Type`` of a report body in ``fmt``."""
    return _CONTENT_TYPES[_check(fmt)]


def download_filename(filters: ReportFilters) -> str:
    """Return the download file name: ``content-actions-log_<first day>_<last day>.<fmt>``.

    The days are the first and last calendar days the range touches in the
    report's zone (the last is the day of ``end - 1 ms``, as ``end`` is
    exclusive). Only ASCII letters, digits, ``-``, ``_`` and ``.`` appear.
    """
    zone = tzinfo_of(filters.tz)
    first = filters.start.astimezone(zone).date()
    last = (filters.end - timedelta(milliseconds=1)).astimezone(zone).date()
    return f"{FILENAME_PREFIX}_{first.isoformat()}_{last.isoformat()}.{_check(filters.fmt)}"


class RowCounter:
    """Counts complete rows in a stream of ClickHouse output chunks (see module doc)."""

    def __init__(self, fmt: str) -> None:
        self._csv = _check(fmt) == "csv"
        self._in_quotes = False
        self.rows = 0

    def feed(self, chunk: bytes) -> int:
        """Account for ``chunk``; return the rows it completed."""
        if not self._csv:
            done = chunk.count(b"\n")
        elif b'"' not in chunk:
            done = 0 if self._in_quotes else chunk.count(b"\n")
        else:
            parts = chunk.split(b'"')
            outside = parts[1::2] if self._in_quotes else parts[0::2]
            done = b"".join(outside).count(b"\n")
            if len(parts) % 2 == 0:  # an odd number of quotes flips the state
                self._in_quotes = not self._in_quotes
        self.rows += done
        return done


class Framer:
    """Turns ClickHouse output chunks into the report body, incrementally.

    Usage::

        framer = Framer(fmt)
        write(framer.start())
        for chunk in chunks:
            write(framer.feed(chunk))
        write(framer.finish())

    The concatenation of the returned pieces does not depend on where the input
    was split. ``rows`` is the number of complete rows fed so far.
    """

    def __init__(self, fmt: str, *, count_rows: bool = True) -> None:
        """Create a framer.

        Args:
            fmt: ``csv``, ``json`` or ``ndjson``.
            count_rows: keep ``rows`` up to date (a little extra work for CSV).
        """
        self.fmt = _check(fmt)
        self._counter = RowCounter(fmt) if count_rows else None
        self._any = False  # json: some row bytes have been emitted
        self._pending_newline = False  # json: the last byte fed was a row's "\n"
        self._finished = False

    @property
    def rows(self) -> int:
        """Complete rows fed so far (0 when counting is off)."""
        return self._counter.rows if self._counter is not None else 0

    def start(self) -> bytes:
        """Return the bytes that open the body (the CSV header; nothing otherwise)."""
        return CSV_HEADER if self.fmt == "csv" else b""

    def feed(self, chunk: bytes) -> bytes:
        """Return the body bytes for the next chunk of ClickHouse output."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if not chunk:
            return b""
        if self._counter is not None:
            self._counter.feed(chunk)
        if self.fmt != "json":
            return chunk
        head = b",\n" if self._pending_newline else (b"[\n" if not self._any else b"")
        self._any = True
        if chunk.endswith(b"\n"):
            self._pending_newline = True
            chunk = chunk[:-1]
        else:
            self._pending_newline = False
        return head + chunk.replace(b"\n", b",\n")

    def finish(self) -> bytes:
        """Return the bytes that close the body."""
        self._finished = True
        if self.fmt != "json":
            return b""
        if not self._any:
            return b"[]\n"
        return b"\n]\n"
