"""Where the suppression list's key comes from when ``ACTIONLOG_ERASURE_KEY`` is not set.

With the embedded store, the key is kept in ``<data dir>/actionlog-erasure.key`` (readable by its
user only): made once, 256 random bits, by the first worker or ``actionlog erase`` that needs it,
and read by every later process on that store. The key is never in a table: a dump of the database
alone does not say who was erased. A ClickHouse server has no directory of ours, so there the
variable must be set (the same value on every process); without it erasing is refused (exit 2).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import replace
from pathlib import Path

from actionlog.core.errors import ConfigError
from actionlog.core.secret import Secret
from actionlog.core.settings import Settings

__all__ = ["ERASURE_KEY_FILE", "with_erasure_key"]

ERASURE_KEY_FILE = "actionlog-erasure.key"


def with_erasure_key(settings: Settings, *, create: bool) -> Settings:
    """``settings`` with the erasure key filled in from the embedded store's key file.

    Args:
        settings: the settings built at the entry point; returned as they are when the key is set
            or the store is a server.
        create: make the key file when it does not exist yet (a worker, an erasure); otherwise a
            missing file leaves the key unset (nobody has erased anything on this store).

    Raises:
        ConfigError: the key file cannot be read or written.
    """
    if settings.privacy.erasure_key is not None or not settings.clickhouse.embedded:
        return settings
    path = settings.clickhouse.chdb_path / ERASURE_KEY_FILE
    try:
        key = _read(path) if path.exists() or not create else _make(path)
    except OSError as exc:
        raise ConfigError(f"cannot use the erasure key file {path}: {exc.strerror or exc}") from None
    if key is None:
        return settings
    return replace(settings, privacy=replace(settings.privacy, erasure_key=Secret(key)))


def _read(path: Path) -> str | None:
    if not path.exists():
        return None
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 16:
        raise ConfigError(f"the erasure key file {path} is damaged (shorter than 16 characters)")
    return key


def _make(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, key.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a key another process made a moment ago
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    read = _read(path)
    assert read is not None
    return read
