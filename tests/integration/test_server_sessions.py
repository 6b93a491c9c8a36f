"""Server mode: a report streaming while the sink inserts never share a ClickHouse session.

ClickHouse refuses a second query in a session that is running one (SESSION_IS_LOCKED), so a
client shared by a download and the sink, or clients with sessions, would make inserts fail while
a report streams. The worker's store clients (`actionlog.worker.open_stores`) talk to a stand-in
ClickHouse HTTP server on 127.0.0.1 that records every request, refuses concurrent queries in one
session the way ClickHouse does, and runs each statement on the embedded engine (chDB). A report
is held open mid-stream until the insert has arrived, then both must have succeeded, without any
session at all.
"""

from __future__ import annotations

import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import chdb
import pytest

from actionlog.core.avro import HEADER_LEN, AvroCodec
from actionlog.core.record import LogRecord
from actionlog.core.scope import Scope
from actionlog.core.settings import Settings
from actionlog.query.filters import parse_report_params
from actionlog.query.report import report_chunks
from actionlog.worker import open_stores
from testkit.pipeline import wait_for
from testkit.rows import row

pytestmark = pytest.mark.integration

#: URL parameters of the HTTP interface that are not settings.
_TRANSPORT = {"query", "query_id", "session_id", "database", "wait_end_of_query", "default_format", "compress"}


@dataclass(frozen=True)
class Seen:
    sql: str
    session_id: str | None
    started: float
    ended: float


class FakeClickHouse(ThreadingHTTPServer):
    """The ClickHouse HTTP interface, statements run by chDB on ``path``."""

    def __init__(self, path: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.engine = chdb.connect(str(path))
        self.engine_lock = threading.Lock()
        self.seen: list[Seen] = []
        self.open_sessions: set[str] = set()
        self.lock = threading.Lock()
        self.insert_arrived = threading.Event()
        self.report_open = threading.Event()

    def run(self, sql: str, params: dict[str, str]) -> bytes:
        with self.engine_lock:
            return bytes(self.engine.query(sql, "TabSeparated", params=params).bytes() or b"")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeClickHouse

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        args = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        session = args.get("session_id")
        started = time.monotonic()
        with self.server.lock:
            if session is not None and session in self.server.open_sessions:
                return self._fail(373, f"Session {session} is locked by a concurrent client. (SESSION_IS_LOCKED)")
            if session is not None:
                self.server.open_sessions.add(session)
        try:
            self._answer(args, body)
        finally:
            with self.server.lock:
                if session is not None:
                    self.server.open_sessions.discard(session)
            sql = args.get("query") or body[:4000].decode(errors="replace")
            self.server.seen.append(Seen(sql, session, started, time.monotonic()))

    def _answer(self, args: dict[str, str], body: bytes) -> None:
        params = {k[len("param_") :]: v for k, v in args.items() if k.startswith("param_")}
        settings = {k: v for k, v in args.items() if k not in _TRANSPORT and not k.startswith("param_")}
        clause = ", ".join(f"{k} = '{v}'" for k, v in settings.items())
        try:
            insert = args.get("query", "")
            first = body.split(b"\n", 1)[0]
            if not insert and body.startswith(b"INSERT ") and b" FORMAT " in first:
                # the statement, a newline, then the data (INSERT ... SELECT is a plain statement)
                insert, body = first.decode(), body[len(first) + 1 :]
            if insert:
                with tempfile.NamedTemporaryFile(suffix=".raw") as data:
                    data.write(body)
                    data.flush()
                    head, fmt = insert.rsplit(" FORMAT ", 1)
                    where = f" FROM INFILE '{data.name}'" + (f" SETTINGS {clause}" if clause else "")
                    self.server.insert_arrived.set()
                    out = self.server.run(f"{head}{where} FORMAT {fmt}", params)
                return self._send([out])
            sql = body.decode()
            if clause:
                sql = f"{sql}\nSETTINGS {clause}" if " FORMAT " not in sql else sql
            out = self.server.run(sql, params)
            if "FINAL" in sql and "FORMAT CSV" in sql:  # a report: hold it open mid-stream
                half = len(out) // 2
                return self._send([out[:half], out[half:]], hold=self.server.insert_arrived)
            return self._send([out])
        except Exception as exc:  # what chDB said, the way the server says it
            text = str(exc)
            code = text.split("Code: ", 1)[1].split(".", 1)[0] if "Code: " in text else "1001"
            self._fail(int(code), text)

    def _send(self, parts: list[bytes], hold: threading.Event | None = None) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-ClickHouse-Summary", "{}")
        self.end_headers()
        for i, part in enumerate(parts):
            if i and hold is not None:
                self.server.report_open.set()
                assert hold.wait(30), "the insert never came while the report was open"
            if part:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _fail(self, code: int, text: str) -> None:
        data = f"Code: {code}. DB::Exception: {text}\n".encode()
        self.send_response(500)
        self.send_header("X-ClickHouse-Exception-Code", str(code))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeClickHouse]:
    server = FakeClickHouse(tmp_path / "chdb")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.engine.close()


def test_a_report_streaming_and_an_insert_at_once_share_no_session(fake: FakeClickHouse) -> None:
    url = f"http://actionlog:secret@127.0.0.1:{fake.server_address[1]}/actionlog"
    settings = Settings.from_env({"CLICKHOUSE_URL": url})
    stores = open_stores(settings, sink=True)  # exactly the worker's clients: the sink's, the pools
    codec = AvroCodec()
    first = [LogRecord(**row(event_id=f"old-{i}", occurred_at=1_793_000_000_000 + i)) for i in range(2000)]
    new = [LogRecord(**row(event_id=f"new-{i}", occurred_at=1_793_100_000_000 + i)) for i in range(50)]
    try:
        assert stores.sink is not None
        stores.sink.insert_avro([codec.encode(r)[HEADER_LEN:] for r in first], codec.schema_json, dedup_token="a")
        fake.insert_arrived.clear()
        filters = parse_report_params({"from": ["2026-10-01"], "to": ["2026-11-30"]}, now=datetime.now(UTC))
        body: list[bytes] = []

        def download() -> None:
            with stores.downloads.client() as store:
                body.extend(report_chunks(store, filters, Scope.everything()))

        reader = threading.Thread(target=download)
        reader.start()
        wait_for(fake.report_open.is_set, timeout=30, what="the report to be open mid-stream")
        stores.sink.insert_avro([codec.encode(r)[HEADER_LEN:] for r in new], codec.schema_json, dedup_token="b")
        reader.join(60)
        assert not reader.is_alive()
        with stores.local.client() as store:
            assert store.query_rows(f"SELECT count() FROM {store.log_table} FINAL") == [(len(first) + len(new),)]
    finally:
        stores.close()
    report = b"".join(body)
    assert report.count(b"\r\n") == 1 + len(first)  # the header and every row landed before it
    [stream] = [s for s in fake.seen if "FINAL" in s.sql and "FORMAT CSV" in s.sql]
    insert = [s for s in fake.seen if s.sql.startswith("INSERT")][-1]
    assert stream.started < insert.started < stream.ended  # they really ran at the same time
    assert {s.session_id for s in fake.seen} == {None}  # no request of any client had a session
