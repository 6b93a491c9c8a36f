"""Writing a report body to stdout or atomically to a file, with progress for long exports."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO


class Progress:
    """Rows-so-far on stderr, at most once a second, only after the first second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.rows = 0
        self._start = time.monotonic()
        self._last = self._start
        self.shown = False

    def add(self, chunk: bytes) -> None:
        if not self.enabled:
            return
        self.rows += chunk.count(b"\n")
        now = time.monotonic()
        if now - self._start >= 1.0 and now - self._last >= 1.0:
            self._last = now
            self.shown = True
            sys.stderr.write(f"\ractionlog: ~{self.rows:,} lines written")
            sys.stderr.flush()

    def done(self, target: str) -> None:
        if self.shown:
            sys.stderr.write(f"\ractionlog: ~{self.rows:,} lines written to {target}\n")
            sys.stderr.flush()


def write_atomically(path: Path, chunks: Iterable[bytes], *, progress: bool = True) -> int:
    """Write every chunk to ``path`` via a temporary file, fsync, rename: no half file, ever.

    Returns:
        bytes written.
    """
    path = path.expanduser()
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    tmp = Path(tmp_name)
    meter = Progress(progress)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
                meter.add(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        tmp.replace(path)
        fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    meter.done(str(path))
    return written


def write_stream(out: BinaryIO, chunks: Iterable[bytes]) -> int:
    written = 0
    for chunk in chunks:
        out.write(chunk)
        written += len(chunk)
    out.flush()
    return written


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
