"""The HTTP limits on a store held and served the way a worker does it (docs/operations.md, "HTTP
limits"): downloads beyond the cap are 429, a client that stops reading is cut after the write
timeout and gives its store client back, request heads are bounded in size and time, idle and
surplus connections are closed, out-of-range numbers are 400, and a 503 says what happened
without the engine's words."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from actionlog.core.settings import ClickHouseSettings, HttpSettings
from actionlog.sink.health import NOT_READY_AFTER, SinkHealth
from actionlog.store.clickhouse import ClickHouseStore
from actionlog.store.holder import read_link
from actionlog.web.reports import REPORT_PATH
from actionlog.web.server import MAX_HEAD
from testkit.pipeline import wait_for
from testkit.rows import land_many
from testkit.served import ServedStore

pytestmark = pytest.mark.integration

START_MS = 1_790_000_000_000  # 2026-09-21
ROWS = 120_000  # about 30 MB of CSV: far more than the socket buffers between client and server
ALL = f"{REPORT_PATH}?from=2026-09-01&to=2026-10-31"
LIMITS = HttpSettings(max_downloads=2, write_timeout=2, header_timeout=1, idle_timeout=2, max_connections=6)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ClickHouseSettings:
    settings = ClickHouseSettings(url=f"chdb://{tmp_path_factory.mktemp('limits') / 'chdb'}")
    with ClickHouseStore(settings).connect() as store:
        land_many(store, ROWS, start_ms=START_MS, title_bytes=200)
    return settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(settings: ClickHouseSettings, clock: Clock) -> Iterator[ServedStore]:
    held = ServedStore(settings, http=LIMITS, health=SinkHealth(clock))
    with held:
        yield held


def public_url(settings: ClickHouseSettings) -> str:
    """The public address the holder of the store published."""
    link = read_link(settings.chdb_path)
    assert link is not None
    return link.public_url


def address(served: ServedStore) -> tuple[str, int]:
    host, port = public_url(served.settings).removeprefix("http://").split(":")
    return host, int(port)


def get(served: ServedStore, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET with the served store's admin token."""
    auth = {"Authorization": f"Bearer {served.token}"}
    req = urllib.request.Request(public_url(served.settings) + path, headers=auth)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def metric(served: ServedStore, name: str) -> float:
    _, _, body = get(served, "/metrics")
    found = re.search(rf"^{re.escape(name)} (\S+)$", body.decode(), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def connect(served: ServedStore, *, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(address(served))
    sock.settimeout(30)
    return sock


def request(path: str, extra: str = "", token: str = "") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{auth}{extra}\r\n".encode()


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(4096)
        if not piece:
            break
        data += piece
    return data


def drain(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    try:
        while piece := sock.recv(1 << 16):
            out += piece
    except ConnectionResetError:
        pass
    return out


def stalled_download(served: ServedStore) -> socket.socket:
    """A report download whose client reads the status line, then nothing more."""
    sock = connect(served, rcvbuf=4096)
    sock.sendall(request(ALL, token=served.token))
    assert read_head(sock).startswith(b"HTTP/1.1 200")
    return sock


def test_beyond_the_download_cap_is_429_and_a_stalled_client_is_cut_and_frees_its_slot(served: ServedStore) -> None:
    stalled = [stalled_download(served) for _ in range(LIMITS.max_downloads)]
    assert metric(served, "actionlog_http_downloads") == LIMITS.max_downloads
    status, headers, body = get(served, ALL)
    assert status == 429 and headers["Retry-After"] == "5"
    assert json.loads(body)["error"] == "busy"
    assert metric(served, 'actionlog_http_refused_total{why="busy"}') == 1
    # Nobody reads: after the write timeout each download is cut, and its store client is free.
    wait_for(lambda: metric(served, "actionlog_http_downloads") == 0, timeout=30, what="the stalled downloads cut")
    assert metric(served, "actionlog_http_downloads_cut_total") == LIMITS.max_downloads
    for sock in stalled:
        body = drain(sock)
        assert not body.endswith(b"0\r\n\r\n")  # cut short, visibly: no final chunk
        sock.close()
    status, _, body = get(served, ALL + "&limit=3")
    assert status == 200 and body.count(b"\r\n") == 4  # a header and three rows


def test_a_slow_reader_is_not_cut(served: ServedStore) -> None:
    # A client taking 1 KiB every 0.1 s (10 KB/s), for several write timeouts: never cut.
    sock = connect(served, rcvbuf=4096)
    sock.sendall(request(ALL, token=served.token))
    received = 0
    started = time.monotonic()
    while time.monotonic() - started < 3 * LIMITS.write_timeout:
        piece = sock.recv(1024)
        assert piece, "the server cut a client that was reading"
        received += len(piece)
        time.sleep(0.1)
    assert metric(served, "actionlog_http_downloads") == 1  # still being served
    sock.close()  # the client goes away: that is no cut either
    wait_for(lambda: metric(served, "actionlog_http_downloads") == 0, timeout=30, what="the download to end")
    assert metric(served, "actionlog_http_downloads_cut_total") == 0
    assert received < ROWS * 200  # it really was slow: most of the report was never sent


def test_request_line_and_headers_are_bounded_to_16_kib(served: ServedStore) -> None:
    fits = f"{ALL}&limit=1&panorama={'L' * 10_000}"
    status, _, _ = get(served, fits)
    assert status == 200
    sock = connect(served)
    sock.sendall(request(f"{ALL}&panorama={'L' * MAX_HEAD}"))  # the request line alone is too long
    assert read_head(sock).split(b"\r\n")[0].endswith(b" 400 Bad Request")
    sock.close()
    sock = connect(served)
    headers = "".join(f"X-Pad-{i}: {'p' * 1000}\r\n" for i in range(8))  # each fine, together too many
    sock.sendall(request(f"{ALL}&limit=1&panorama={'L' * 9000}", headers, token=served.token))
    answer = read_head(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    sock.close()


def test_a_head_sent_too_slowly_is_408_and_closed(served: ServedStore) -> None:
    sock = connect(served)
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # and never the blank line
    answer = drain(sock)
    assert answer.startswith(b"HTTP/1.1 408")
    assert LIMITS.header_timeout <= time.monotonic() - started < LIMITS.header_timeout + 5
    assert metric(served, 'actionlog_http_refused_total{why="head_timeout"}') == 1


def test_an_idle_connection_is_closed_after_the_idle_timeout(served: ServedStore) -> None:
    sock = connect(served)
    sock.sendall(request("/healthz"))
    answer = read_head(sock)
    started = time.monotonic()
    answer += drain(sock)  # the rest of that answer, if any, then the close
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"status":"ok"}')
    assert LIMITS.idle_timeout - 0.5 <= time.monotonic() - started < LIMITS.idle_timeout + 5


def test_connections_beyond_the_cap_are_503_and_closed(served: ServedStore) -> None:
    held = [connect(served) for _ in range(LIMITS.max_connections)]
    wait_for(lambda: held[-1].getpeername(), timeout=5)
    extra = connect(served)
    answer = drain(extra)
    assert answer.startswith(b"HTTP/1.1 503") and b'"busy"' in answer
    for sock in held:
        sock.close()
    wait_for(lambda: get(served, "/healthz")[0] == 200, timeout=10, what="a connection again")


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("limit", "9223372036854775808"),
        ("limit", "99999999999999999999"),
        ("from", "99999-01-01"),
        ("to", "0000-01-01"),
    ],
)
def test_out_of_range_numbers_are_400_naming_the_parameter(served: ServedStore, param: str, value: str) -> None:
    status, _, body = get(served, f"{REPORT_PATH}?{param}={value}")
    assert status == 400
    assert json.loads(body)["param"] == param


def test_a_report_over_its_limits_is_503_without_the_engine_words(settings: ClickHouseSettings) -> None:
    # A database of its own whose rows carry 1 MB titles (about ten to an adaptive granule): the
    # first block the report reads needs one 16 MiB allocation, over the 1 MiB limit at once (and
    # over the engine's 4 MiB of untracked memory per thread), so the limit strikes before any byte
    # is sent, every time, and the answer can still be a 503.
    big = ClickHouseSettings(url=settings.url, database="limits_big")
    with ClickHouseStore(big).connect() as store:
        land_many(store, 64, start_ms=START_MS, title_bytes=1_000_000, prefix="big")
    tight = ClickHouseSettings(url=settings.url, database="limits_big", query_max_memory=1 << 20)
    held = ServedStore(tight, http=LIMITS)
    with held:
        status, _, body = get(held, ALL)
    answer = json.loads(body)
    assert status == 503 and answer["error"] == "limit_exceeded"
    assert re.fullmatch(r"[0-9a-f]{12}", answer["incident"])
    assert "Code" not in body.decode() and "Exception" not in body.decode() and "MiB" not in body.decode()


def test_readyz_follows_the_sink_and_healthz_stays_live(served: ServedStore, clock: Clock) -> None:
    assert served.health is not None
    served.health.progress()
    assert get(served, "/readyz")[:1] == (200,)
    served.health.failed(clock.now)
    clock.now += NOT_READY_AFTER + 1
    served.health.progress()  # still trying: failing, not stuck
    status, _, body = get(served, "/readyz")
    assert status == 503 and json.loads(body) == {"status": "not_ready", "sink": "failing", "seconds": 31.0}
    assert get(served, "/healthz")[0] == 200
    served.health.landed()
    assert get(served, "/readyz")[0] == 200


def cli_report(settings: ClickHouseSettings, **extra: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "CLICKHOUSE_URL": settings.url, **extra}
    args = ["report", "--from", "2026-09-01", "--to", "2026-10-31"]
    return subprocess.run([sys.executable, "-m", "actionlog", *args], env=env, capture_output=True, timeout=120)


def assert_refused_in_one_line(res: subprocess.CompletedProcess[bytes]) -> None:
    """Exit 1 with one line. The limit can be hit before the first block (nothing written, the
    setting named) or once rows are on their way to stdout (the line says the report was cut;
    an ``--output`` file is never left half-written)."""
    line = res.stderr.decode()
    assert res.returncode == 1 and line.count("\n") == 1, line
    assert "Traceback" not in line
    if not res.stdout:
        assert "ACTIONLOG_CLICKHOUSE_QUERY_MAX_MEMORY" in line, line
    else:
        assert "ACTIONLOG_CLICKHOUSE_QUERY_MAX_MEMORY" in line or "cut short" in line, line


def test_a_report_over_its_limits_exits_1_with_one_line_on_its_own_and_through_the_worker(
    settings: ClickHouseSettings,
) -> None:
    tight = {"ACTIONLOG_CLICKHOUSE_QUERY_MAX_MEMORY": str(1 << 20)}
    assert_refused_in_one_line(cli_report(settings, **tight))  # the CLI opens the store itself
    with ServedStore(settings, http=LIMITS):  # held with the default limits: the CLI's statement carries its own
        assert_refused_in_one_line(cli_report(settings, **tight))
        fine = cli_report(settings)
        assert fine.returncode == 0 and fine.stdout.count(b"\r\n") == ROWS + 1
