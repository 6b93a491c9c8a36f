"""Who holds the embedded store, decided by a file lock, never by a pid.

Only one process can open a chDB data directory. The process that opens it holds an exclusive
``flock`` on ``<data dir>/actionlog.lock`` for as long as it has it open; the kernel releases it
when the process ends, however it ends (``kill -9`` included), so a stale file never misleads
anyone, and a new worker that happens to get the old one's pid (pid 1 in a container) is not
fooled either.

A worker that holds the store also publishes how the local CLI reaches it: a loopback URL in
``<data dir>/actionlog-worker.json`` and a random key, readable by its user only, in
``<data dir>/actionlog-local.key``. Both count only while the lock is held.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENDPOINT_FILE", "KEY_FILE", "LOCK_FILE", "StoreLock", "WorkerLink", "new_key", "read_link"]

log = logging.getLogger(__name__)

LOCK_FILE = "actionlog.lock"
ENDPOINT_FILE = "actionlog-worker.json"
KEY_FILE = "actionlog-local.key"


@dataclass(frozen=True)
class WorkerLink:
    """How the local CLI reaches the worker holding the store.

    Attributes:
        url: base URL of the worker's loopback listener for local clients.
        key: the secret that listener accepts (``Authorization: Local <key>``).
        public_url: the worker's public HTTP address, or ``""`` when it has none.
    """

    url: str
    key: str
    public_url: str = ""

    def __repr__(self) -> str:
        return f"WorkerLink(url={self.url!r}, key='***', public_url={self.public_url!r})"


class StoreLock:
    """The exclusive lock on an embedded store's directory.

    Args:
        directory: the chDB data directory (created if missing).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self, role: str) -> bool:
        """Take the lock if it is free; never waits."""
        if self._fd is not None:
            return True
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "role": role, "since": time.time()}).encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        """Who the lock file says holds the store (for messages only: the lock decides)."""
        try:
            info = json.loads((self.directory / LOCK_FILE).read_text())
            return f"pid {int(info['pid'])} ({info.get('role', '?')})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    # -- the worker's link, published while it holds the lock ---------------------------
    def publish(self, url: str, key: str, public_url: str = "") -> WorkerLink:
        """Write the key (0600) and the endpoint file, atomically; only while holding the lock."""
        if self._fd is None:
            raise RuntimeError("publish() without holding the store lock")
        key_path = self.directory / KEY_FILE
        tmp_key = key_path.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp_key.unlink()
        fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key)
        tmp_key.replace(key_path)
        endpoint = self.directory / ENDPOINT_FILE
        tmp = endpoint.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": url, "public_url": public_url, "pid": os.getpid()}))
        tmp.replace(endpoint)
        return WorkerLink(url, key, public_url)

    def withdraw(self) -> None:
        """Remove the endpoint and key files (a worker stopping, or one that found stale ones)."""
        for name in (ENDPOINT_FILE, KEY_FILE):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()


def new_key() -> str:
    """A fresh random key for the local listener (256 bits)."""
    return secrets.token_urlsafe(32)


def read_link(directory: Path) -> WorkerLink | None:
    """The link of a live worker holding ``directory``: the lock is held, a link is published and
    the worker answers on it.

    Probing takes the lock for an instant when it is free, so a process that tries to take it at
    that very moment may fail once and must try again (the worker and `open_store` do, in a loop);
    the answer on the link, not the files, tells a live worker from a killed one.
    """
    if not (directory / LOCK_FILE).exists():
        return None
    probe = StoreLock(directory)
    if probe.try_acquire("probe"):
        probe.release()  # nobody holds it: whatever files are there are stale
        return None
    try:
        info = json.loads((directory / ENDPOINT_FILE).read_text())
        key = (directory / KEY_FILE).read_text().strip()
        link = WorkerLink(str(info["url"]), key, str(info.get("public_url", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return link if _answers(link.url) else None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
