"""Access control over HTTP (docs/access.md): tokens, scopes, sessions, the audit."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from actionlog.access.guard import registry
from actionlog.core.settings import ClickHouseSettings
from testkit.pipeline import wait_for
from testkit.rows import row
from testkit.served import Served, ServedStore

pytestmark = pytest.mark.integration

DAY = 86_400_000
NOW_MS = 1_795_000_000_000  # 2026-11-18
PANORAMAS = {"p-1": "Acme Academy", "p-2": "Globex U", "p-3": "Initech Learning"}
ROWS = [
    row(
        event_id=f"e-{pid or 'main'}-{i}",
        occurred_at=NOW_MS - i * DAY,
        panorama_id=pid,
        panorama_name=name,
        content_title=f"{pid or 'main'} {i}",
        learner_id=f"u-{i}",
        email=f"learner{i}@example.com",
    )
    for pid, name in [*PANORAMAS.items(), ("", "")]
    for i in range(3)
]
RANGE = {"from": ["2026-10-01"], "to": ["2026-12-31"], "format": ["json"]}


class Client:
    def __init__(self, served: Served) -> None:
        self.served = served
        u = urllib.parse.urlsplit(served.url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port

    def request(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def report(self, params: Mapping[str, Sequence[str]], token: str | None = None, **headers: str) -> tuple[int, Any]:
        query = urllib.parse.urlencode([(k, v) for k, vs in params.items() for v in vs])
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        status, _, body = self.request("GET", f"/reports/content-actions-log?{query}", headers=headers)
        return status, json.loads(body)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = ClickHouseSettings(url=f"chdb://{tmp_path_factory.mktemp('access') / 'chdb'}")
    with ServedStore(settings) as held:
        from testkit.rows import land

        land(held.store, ROWS)
        yield held


@pytest.fixture(scope="module")
def client(served: Served) -> Client:
    return Client(served)


def make_token(served: Served, name: str, *panoramas: str) -> str:
    role = "panorama" if panoramas else "admin"
    return registry(served.store).create(name, role, panoramas)


def titles(body: Any) -> list[str]:
    return sorted(r["content_title"] for r in body)


def test_every_data_route_needs_a_token(client: Client) -> None:
    for headers in ({}, {"Authorization": "Bearer alog_" + "x" * 43}, {"Authorization": "Basic abc"}):
        status, head, body = client.request("GET", "/reports/content-actions-log", headers=headers)
        assert status == 401, headers
        assert json.loads(body)["error"] == "unauthorized"
        assert head["www-authenticate"].startswith("Bearer")
    status, _, _ = client.request("GET", "/metrics")
    assert status == 401
    status, _, body = client.request("GET", "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_an_admin_sees_every_row_and_the_metrics(client: Client, served: Served) -> None:
    status, body = client.report(RANGE, served.token)
    assert status == 200
    assert titles(body) == sorted(str(r["content_title"]) for r in ROWS)
    status, _, _ = client.request("GET", "/metrics", headers={"Authorization": f"Bearer {served.token}"})
    assert status == 200


def test_a_panorama_token_sees_its_panoramas_only(client: Client, served: Served) -> None:
    token = make_token(served, "client-1", "p-1", "p-3")
    status, body = client.report(RANGE, token)
    assert status == 200
    assert {r["panorama_name"] for r in body} == {"Acme Academy", "Initech Learning"}
    for allowed in (["p-1"], ["ACME academy"], ["p-3", "initech learning"]):
        status, body = client.report({**RANGE, "panorama": allowed}, token)
        assert status == 200, allowed
        assert body and {r["panorama_name"] for r in body} <= {"Acme Academy", "Initech Learning"}
    for foreign in (["p-2"], ["Globex U"], ["p-1", "p-2"], ["nobody"], [""]):
        status, body = client.report({**RANGE, "panorama": foreign}, token)
        assert status in (400, 403), foreign  # "" is a bad parameter for everyone
        if foreign != [""]:
            assert status == 403 and body["error"] == "forbidden"
    # Other filters never widen the scope: the main site's and p-2's learners stay invisible.
    status, body = client.report({**RANGE, "learner": ["u-0", "learner0@example.com"]}, token)
    assert status == 200 and {r["panorama_name"] for r in body} == {"Acme Academy", "Initech Learning"}


def test_a_revoked_token_is_refused_within_5_seconds(client: Client, served: Served) -> None:
    token = make_token(served, "short-lived")
    assert client.report(RANGE, token)[0] == 200
    registry(served.store).revoke("short-lived")
    wait_for(lambda: client.report(RANGE, token)[0] == 401, timeout=5.5, interval=0.1, what="the revocation")


def sign_in(client: Client, token: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"token": token}).encode()
    return client.request("POST", "/auth/sign-in", headers={"Content-Type": "application/json"}, body=body)


def test_a_session_cookie_stands_for_its_token_until_signed_out_or_revoked(client: Client, served: Served) -> None:
    token = make_token(served, "page-user", "p-2")
    status, head, body = sign_in(client, token)
    assert status == 200, body
    cookie = head["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie
    assert token not in cookie
    session = cookie.split(";")[0]
    status, body = client.report(RANGE, Cookie=session)
    assert status == 200 and {r["panorama_name"] for r in body} == {"Globex U"}
    status, head, _ = client.request("POST", "/auth/sign-out", headers={"Cookie": session})
    assert status == 303 and 'actionlog_session=""' in head["set-cookie"]
    assert client.report(RANGE, Cookie=session)[0] == 401
    # A new session ends when its token is revoked.
    _, head, _ = sign_in(client, token)
    session = head["set-cookie"].split(";")[0]
    assert client.report(RANGE, Cookie=session)[0] == 200
    registry(served.store).revoke("page-user")
    wait_for(lambda: client.report(RANGE, Cookie=session)[0] == 401, timeout=5.5, interval=0.1, what="revocation")


def test_a_cross_site_sign_in_is_refused(client: Client, served: Served) -> None:
    status, _, body = client.request(
        "POST",
        "/auth/sign-in",
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
        body=f"token={served.token}".encode(),
    )
    assert status == 403 and json.loads(body)["error"] == "forbidden"


def test_every_access_is_recorded_without_the_token(client: Client, served: Served) -> None:
    token = make_token(served, "audited", "p-1")
    client.report({**RANGE, "panorama": ["p-1"]}, token)
    client.report({**RANGE, "panorama": ["p-2"]}, token)
    client.report(RANGE, None)

    def recorded() -> list[tuple[Any, ...]]:
        return served.store.query_rows(
            "SELECT token_name, route, filters, status, rows, bytes FROM actionlog.access_log"
            " WHERE token_name IN ('audited', '') ORDER BY at"
        )

    rows = wait_for(lambda: len(recorded()) >= 3 and recorded(), timeout=10, what="audit rows")
    by_status = {r[3]: r for r in rows if r[0] == "audited"}
    ok, refused = by_status[200], by_status[403]
    assert ok[1] == "/reports/content-actions-log" and json.loads(ok[2])["panorama"] == ["p-1"]
    assert ok[4] == 3 and ok[5] > 0  # three rows of p-1, and the bytes sent
    assert refused[4] == 0
    assert any(r[0] == "" and r[3] == 401 for r in rows)
    everything = served.store.query_rows("SELECT * FROM actionlog.access_log")
    assert token not in repr(everything) and served.token not in repr(everything)


def test_a_token_in_the_query_string_is_never_recorded(client: Client, served: Served, tmp_path: Path) -> None:
    client.report({**RANGE, "token": [served.token]}, served.token)  # an unknown parameter: 400
    rows = served.store.query_rows("SELECT filters, status FROM actionlog.access_log WHERE status = 400")
    assert rows and all(served.token not in str(f) for f, _ in rows)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/reports/content-actions-log/count?from=2026-10-01"),
        ("GET", "/reports/content-actions-log/choices/panoramas"),
        ("GET", "/reports/content-actions-log/choices/contents?q=main"),
        ("GET", "/reports/content-actions-log/choices/course-groups"),
        ("GET", "/reports/content-actions-log/choices/content-types"),
        ("GET", "/reports/content-actions-log/choices/sources?type=enrollment"),
        ("POST", "/admin/erasures"),
    ],
)
def test_the_other_data_routes_need_a_token_too(client: Client, method: str, path: str) -> None:
    body = b'{"learner": "u-1", "dry_run": true}' if method == "POST" else None
    status, head, answer = client.request(method, path, body=body)
    assert status == 401, (path, answer)
    assert json.loads(answer)["error"] == "unauthorized"
    assert head["www-authenticate"].startswith("Bearer")
    assert b"learner" not in answer and b"@example.com" not in answer
