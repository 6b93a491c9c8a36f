"""The report page in a real browser (docs/report-page.md): Reporting > Reports > Content Actions
Log, its filters and Update, pages, downloads, values shown as text, and a client's scope."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from actionlog.access.guard import registry
from actionlog.core.catalog import SOURCES_BY_TYPE
from actionlog.core.settings import ClickHouseSettings
from testkit.browser import chromium_path, launch, signed_in
from testkit.rows import land, row
from testkit.served import Served, ServedStore

pytestmark = [pytest.mark.integration, pytest.mark.browser]

if chromium_path() is None:
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)

NOW = int(time.time() * 1000)
HOUR = 3_600_000
TEN_DAYS_AGO = time.strftime("%Y-%m-%d", time.gmtime(NOW / 1000 - 10 * 86400))
HOSTILE = ['<img src=x onerror="alert(1)">', '=HYPERLINK("http://evil.example","click")', "<script>alert(2)</script>"]
PANORAMAS = {"p-1": "Acme Academy", "p-2": "Globex U", "": ""}
PAIRS = [(t, s) for t, sources in SOURCES_BY_TYPE.items() for s in sources[:3]]


def rows() -> list[dict[str, Any]]:
    out = []
    for i in range(130):
        pid = list(PANORAMAS)[i % 3]
        action_type, source = PAIRS[i % len(PAIRS)]
        out.append(
            row(
                event_id=f"e-{i:03d}",
                occurred_at=NOW - (i * 5 + 1) * HOUR,  # 130 rows over ~27 days
                panorama_id=pid,
                panorama_name=PANORAMAS[pid],
                action_type=action_type,
                source=source,
                learner_id=f"u-{i % 7}",
                email=f"learner{i % 7}@example.com",
                content_id=f"c-{i % 6}",
                content_title=HOSTILE[i % 6] if i % 6 < 3 else f"Lesson {i % 6}",
                content_type=("course", "webinar")[i % 2],
                course_group_id=f"g-{i % 4}",
            )
        )
    out.append(row(event_id="old", occurred_at=NOW - 60 * 24 * HOUR, content_title="two months ago"))
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with ServedStore(ClickHouseSettings(url=f"chdb://{tmp_path_factory.mktemp('page') / 'chdb'}")) as held:
        land(held.store, rows())
        yield held


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch() as b:
        yield b


@pytest.fixture
def page(browser: Browser, served: Served, tmp_path: Path) -> Iterator[Page]:
    p = signed_in(browser, served.url, served.token)
    dialogs: list[str] = []
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield p
    p.screenshot(path=str(tmp_path / "page.png"), full_page=True)  # a picture of every run, for a human
    assert dialogs == [], f"a script from the data ran: {dialogs}"
    p.context.close()


def http(served: Served, token: str, params: list[tuple[str, str]], fmt: str = "json") -> bytes:
    query = urllib.parse.urlencode([*params, ("format", fmt)])
    request = urllib.request.Request(
        f"{served.url}/reports/content-actions-log?{query}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return bytes(response.read())


def applied(p: Page) -> list[tuple[str, str]]:
    """The filters in the page's URL."""
    return urllib.parse.parse_qsl(urllib.parse.urlsplit(p.url).query)


def table(p: Page) -> list[list[str]]:
    expect(p.locator("#report")).to_have_attribute("aria-busy", "false")
    return [[c.inner_text() for c in r.locator("td").all()] for r in p.locator("#rows tr").all()]


def expected_table(served: Served, token: str, params: list[tuple[str, str]], limit: int = 50) -> list[list[str]]:
    body = json.loads(http(served, token, [*params, ("limit", str(limit))]))
    keys = ["email", "panorama_name", "content_type", "content_title", "type", "source", "timestamp"]
    return [[r[k] for k in keys] for r in body] or [["No actions match these filters."]]


def open_report(p: Page, served: Served, query: str = "") -> None:
    p.goto(f"{served.url}/ui/reports/content-actions-log{query}")
    expect(p.locator("#count")).to_contain_text("matching")


def test_reporting_reports_learner_actions_content_actions_log(page: Page, served: Served) -> None:
    page.goto(f"{served.url}/")
    expect(page).to_have_url(f"{served.url}/ui/reports")
    section = page.get_by_role("region", name="Learner Actions")
    section.get_by_role("link", name="Content Actions Log").click()
    expect(page).to_have_url(f"{served.url}/ui/reports/content-actions-log?tz=UTC")


def test_the_report_generates_on_opening_with_the_last_30_days(page: Page, served: Served) -> None:
    open_report(page, served)
    headers = [h.inner_text() for h in page.locator("thead th").all()]
    assert headers == ["Email", "Panorama Name", "Content Type", "Content Title", "Type", "Source", "Timestamp"]
    assert table(page) == expected_table(served, served.token, [("tz", "UTC")])
    expect(page.locator("#count")).to_have_text("130 matching rows")  # not the one of two months ago
    assert "two months ago" not in page.locator("#rows").inner_text()


def choose(p: Page, label: str, *options: str) -> None:
    p.get_by_label(label, exact=True).select_option(label=list(options))


@pytest.mark.parametrize(
    ("act", "param"),
    [
        (lambda p: choose(p, "Type", "revoked_access"), ("type", "revoked_access")),
        (
            lambda p: (choose(p, "Type", "certificate_grant"), choose(p, "Source", "manager_grant")),
            ("source", "manager_grant"),
        ),
        (lambda p: choose(p, "Panorama", "Globex U"), ("panorama", "p-2")),
        (lambda p: choose(p, "Course group", "g-1", "g-3"), ("course-group", "g-3")),
        (lambda p: choose(p, "Content type", "webinar"), ("content-type", "webinar")),
        (
            lambda p: (
                p.get_by_label("Learner", exact=True).fill("learner3@example.com"),
                p.get_by_role("button", name="Add learner").click(),
            ),
            ("learner", "learner3@example.com"),
        ),
        (
            lambda p: (
                p.get_by_label("From", exact=True).fill(
                    time.strftime("%Y-%m-%d", time.gmtime(NOW / 1000 - 10 * 86400))
                ),
            ),
            ("from", time.strftime("%Y-%m-%d", time.gmtime(NOW / 1000 - 10 * 86400))),
        ),
        (lambda p: p.get_by_label("Time zone", exact=True).fill("Asia/Kolkata"), ("tz", "Asia/Kolkata")),
    ],
)
def test_each_filter_then_update_gives_the_http_report(
    page: Page, served: Served, act: Any, param: tuple[str, str]
) -> None:
    open_report(page, served)
    act(page)
    page.get_by_role("button", name="Update").click()
    expect(page.locator("#report")).to_have_attribute("aria-busy", "false")
    assert param in applied(page)
    assert table(page) == expected_table(served, served.token, applied(page))


def test_content_is_chosen_by_title(page: Page, served: Served) -> None:
    open_report(page, served)
    page.get_by_label("Content", exact=True).fill("Lesson 4")
    expect(page.locator("#content-options option")).to_have_count(1)
    page.get_by_role("button", name="Add content").click()
    page.get_by_role("button", name="Update").click()
    expect(page.locator("#report")).to_have_attribute("aria-busy", "false")
    assert ("content", "c-4") in applied(page)
    assert {r[3] for r in table(page)} == {"Lesson 4"}


def test_source_choices_follow_the_chosen_types(page: Page, served: Served) -> None:
    open_report(page, served)
    choose(page, "Type", "revoked_access")
    sources = [o.get_attribute("value") for o in page.get_by_label("Source", exact=True).locator("option").all()]
    assert sources == list(SOURCES_BY_TYPE["revoked_access"])
    choose(page, "Type", "revoked_access", "certificate_grant")
    sources = [o.get_attribute("value") for o in page.get_by_label("Source", exact=True).locator("option").all()]
    assert sources == list(dict.fromkeys([*SOURCES_BY_TYPE["revoked_access"], *SOURCES_BY_TYPE["certificate_grant"]]))


def test_next_and_previous(page: Page, served: Served) -> None:
    open_report(page, served)
    first = table(page)
    everything = expected_table(served, served.token, [("tz", "UTC")], limit=1000)
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#range")).to_have_text("Rows 51–100")
    assert table(page) == everything[50:100]
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#range")).to_have_text("Rows 101–130")
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    page.get_by_role("button", name="Previous").click()
    page.get_by_role("button", name="Previous").click()
    expect(page.locator("#range")).to_have_text("Rows 1–50")
    assert table(page) == first


@pytest.mark.parametrize(("link", "fmt"), [("Download CSV", "csv"), ("Download JSON", "json")])
def test_downloads_are_the_http_report(page: Page, served: Served, link: str, fmt: str, tmp_path: Path) -> None:
    open_report(page, served, "?type=enrollment&tz=Europe/Paris")
    with page.expect_download() as info:
        page.get_by_role("link", name=link).click()
    download = info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert download.suggested_filename.endswith(f".{fmt}")
    assert saved.read_bytes() == http(served, served.token, [("type", "enrollment"), ("tz", "Europe/Paris")], fmt)
    assert page.url.endswith("?type=enrollment&tz=Europe%2FParis") or "type=enrollment" in page.url


def test_values_are_shown_as_text_never_run(page: Page, served: Served) -> None:
    open_report(page, served)
    titles = {r[3] for r in table(page)}
    assert set(HOSTILE) <= titles  # shown exactly as they are
    assert page.locator("#rows img, #rows script").count() == 0  # and never as markup


def test_a_reload_and_a_shared_link_show_the_same_report(page: Page, served: Served, browser: Browser) -> None:
    open_report(page, served)
    choose(page, "Type", "status_change")
    choose(page, "Content type", "course")
    page.get_by_role("button", name="Update").click()
    shown = table(page)
    url = page.url
    page.reload()
    assert page.url == url and table(page) == shown
    assert page.get_by_label("Type", exact=True).input_value() == "status_change"
    other = signed_in(browser, served.url, served.token)
    other.goto(url)
    assert table(other) == shown
    other.context.close()


def test_a_client_sees_only_its_panoramas_everywhere(browser: Browser, served: Served, tmp_path: Path) -> None:
    token = registry(served.store).create("acme-page", "panorama", ["p-1"])
    p = signed_in(browser, served.url, token)
    open_report(p, served)
    assert {r[1] for r in table(p)} == {"Acme Academy"}
    panoramas = [o.inner_text() for o in p.get_by_label("Panorama", exact=True).locator("option").all()]
    assert panoramas == ["Acme Academy"]
    with p.expect_download() as info:
        p.get_by_role("link", name="Download JSON").click()
    info.value.save_as(tmp_path / "acme.json")
    assert {r["panorama_name"] for r in json.loads((tmp_path / "acme.json").read_bytes())} == {"Acme Academy"}
    p.goto(f"{served.url}/ui/reports/content-actions-log?panorama=p-2")
    expect(p.locator("#status")).to_contain_text("outside this token's scope")
    p.context.close()


def test_signing_out_ends_the_session(page: Page, served: Served) -> None:
    open_report(page, served)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{served.url}/ui/sign-in")
    page.goto(f"{served.url}/ui/reports/content-actions-log")
    page.wait_for_url(f"{served.url}/ui/sign-in?**")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["next"] == ["/ui/reports/content-actions-log"]


def test_no_accessibility_violations(browser: Browser, served: Served) -> None:
    from axe_playwright_python.sync_playwright import Axe

    p = signed_in(browser, served.url, served.token, bypass_csp=True)  # axe is injected as a script
    open_report(p, served)
    results = Axe().run(p)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], results.generate_report()
    p.context.close()
