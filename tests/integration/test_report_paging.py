"""Paging of the HTTP report (docs/report.md#paging): following the next links from the first
page visits every matching row exactly once, in report order, even while rows land."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from actionlog.core.settings import ClickHouseSettings
from actionlog.query.framing import CSV_HEADER
from testkit.rows import land, row
from testkit.served import Served, ServedStore

pytestmark = pytest.mark.integration

BASE_MS = 1_795_000_000_000
HOUR = 3_600_000
# 250 rows; several share an occurred_at, so the event_id tiebreak matters at page edges.
ROWS = [
    row(event_id=f"e-{i:04d}", occurred_at=BASE_MS - (i // 3) * HOUR, content_title=f"t{i:04d}") for i in range(250)
]
RANGE = {"from": ["2026-01-01"], "to": ["2026-12-31"]}


@pytest.fixture
def served(tmp_path: Any) -> Iterator[Served]:
    with ServedStore(ClickHouseSettings(url=f"chdb://{tmp_path / 'chdb'}")) as held:
        land(held.store, ROWS)
        yield held


def get(served: Served, url: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {served.token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def first_url(served: Served, **params: str) -> str:
    query = urllib.parse.urlencode([*[(k, v) for k, vs in RANGE.items() for v in vs], *params.items()])
    return f"{served.url}/reports/content-actions-log?{query}"


def next_link(headers: dict[str, str]) -> str | None:
    link = headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


def walk(served: Served, url: str, between: Any = None) -> list[list[str]]:
    """Titles of each page, following next links."""
    pages = []
    while url:
        status, headers, body = get(served, url)
        assert status == 200, body
        pages.append([json.loads(line)["content_title"] for line in body.splitlines()])
        if between is not None:
            between(len(pages))
        url = next_link(headers) or ""
    return pages


def expected_order(rows: list[dict[str, Any]]) -> list[str]:
    return [r["content_title"] for r in sorted(rows, key=lambda r: (-r["occurred_at"], r["event_id"]))]


def test_pages_cover_every_row_once_in_report_order(served: Served) -> None:
    pages = walk(served, first_url(served, format="ndjson", limit="100"))
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [t for p in pages for t in p] == expected_order(ROWS)


def test_the_first_page_is_the_limited_report(served: Served) -> None:
    status, headers, body = get(served, first_url(served, format="csv", limit="7"))
    _, _, whole = get(served, first_url(served, format="csv"))
    assert status == 200 and body.startswith(CSV_HEADER)
    lines = whole[len(CSV_HEADER) :].split(b"\r\n")
    assert body == CSV_HEADER + b"".join(line + b"\r\n" for line in lines[:7])
    assert next_link(headers) is not None
    status, headers, _ = get(served, first_url(served, format="csv", limit="250"))
    assert status == 200 and next_link(headers) is None  # exactly as many rows as match: no next page


def test_rows_landing_between_pages_never_repeat_or_hide_a_row(served: Served) -> None:
    def land_more(page: int) -> None:
        if page == 1:  # newer rows, older rows, and re-sent copies of rows already seen and not yet seen
            extra = [
                row(event_id="n-new", occurred_at=BASE_MS + HOUR, content_title="newer"),
                row(event_id="n-old", occurred_at=BASE_MS - 80 * HOUR, content_title="older"),
                *(dict(r) for r in ROWS[:5]),
                *(dict(r) for r in ROWS[200:205]),
            ]
            land(served.store, extra)

    pages = walk(served, first_url(served, format="ndjson", limit="100"), between=land_more)
    seen = [t for p in pages for t in p]
    assert len(seen) == len(set(seen))  # nothing twice
    assert set(expected_order(ROWS)) <= set(seen)  # every row that matched when paging began
    assert "newer" not in seen  # it landed ahead of the first cursor: that page was already read
    place = {r["content_title"]: (-r["occurred_at"], r["event_id"]) for r in ROWS}
    place["older"] = (-(BASE_MS - 80 * HOUR), "n-old")
    assert [place[t] for t in seen] == sorted(place[t] for t in seen)  # report order across pages


def test_the_count_route(served: Served) -> None:
    status, _, body = get(served, first_url(served).replace("/content-actions-log?", "/content-actions-log/count?"))
    assert (status, json.loads(body)) == (200, {"rows": len(ROWS)})


@pytest.mark.parametrize(
    "extra",
    [{"cursor": "not-a-cursor", "limit": "5"}, {"cursor": "WzEsMiwiYSIsMywxMF0", "limit": "0"}, {"cursor": "x"}],
)
def test_a_bad_cursor_is_a_400_naming_it(served: Served, extra: dict[str, str]) -> None:
    status, _, body = get(served, first_url(served, **extra))
    assert status == 400
    answer = json.loads(body)
    assert answer["error"] == "bad_parameter" and answer["param"] in ("cursor", "limit")
