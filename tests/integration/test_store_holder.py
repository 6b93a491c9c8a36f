"""Who holds the embedded store is decided by a lock held for the holder's lifetime, never by a
pid or by files left behind: a killed holder frees it at once, stale files mislead nobody."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest

from actionlog.store.holder import ENDPOINT_FILE, StoreLock, read_link

pytestmark = pytest.mark.integration

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from actionlog.store.holder import StoreLock
    lock = StoreLock(Path(sys.argv[1]))
    assert lock.try_acquire("holder")
    lock.publish(sys.argv[2], "k")
    print("held", flush=True)
    time.sleep(600)
    """
)


class Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def hold_in_a_child(directory: Path, url: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory), url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_holder_with_a_listener_is_found_and_a_killed_one_frees_the_store(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    proc = hold_in_a_child(tmp_path, url)
    try:
        link = read_link(tmp_path)
        assert link is not None and (link.url, link.key) == (url, "k")
        assert not StoreLock(tmp_path).try_acquire("me")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        server.shutdown()
    assert (tmp_path / ENDPOINT_FILE).exists()  # the killed holder's files are still there...
    assert read_link(tmp_path) is None  # ...and mislead nobody
    mine = StoreLock(tmp_path)
    assert mine.try_acquire("me")  # the kernel released the lock with the process
    mine.release()


def test_a_held_store_whose_link_does_not_answer_is_not_a_worker(tmp_path: Path) -> None:
    proc = hold_in_a_child(tmp_path, "http://127.0.0.1:9")  # nothing listens there
    try:
        assert read_link(tmp_path) is None
        assert not StoreLock(tmp_path).try_acquire("me")  # still held, by a process that serves no one
    finally:
        proc.kill()
        proc.wait(30)


def test_the_same_pid_again_is_not_the_holder(tmp_path: Path) -> None:
    """A new process that happens to get a killed holder's pid (pid 1 in a container) finds the
    store free: nothing is decided by the pid written in the files."""
    lock = StoreLock(tmp_path)
    assert lock.try_acquire("old worker")
    lock.publish("http://127.0.0.1:9", "k")
    lock.release()  # as the kernel does when the holder dies; the files stay, naming our own pid
    assert f'"pid": {os.getpid()}' in (tmp_path / ENDPOINT_FILE).read_text()
    assert read_link(tmp_path) is None
    again = StoreLock(tmp_path)
    assert again.try_acquire("new worker")
    again.release()
