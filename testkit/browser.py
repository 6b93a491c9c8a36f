"""A real Chromium for the page tests: Debian's ``chromium`` driven by Playwright (never a browser
downloaded at run time), started with the flags this machine's closed network needs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

__all__ = ["chromium_path", "launch", "signed_in"]

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Chromium's executable: ``ACTIONLOG_TEST_CHROMIUM``, else Debian's ``chromium`` on PATH."""
    return os.environ.get("ACTIONLOG_TEST_CHROMIUM") or shutil.which("chromium")


@contextmanager
def launch() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium: install Debian's chromium (apt-get install chromium chromium-driver)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def signed_in(browser: Browser, base_url: str, token: str, **context: Any) -> Page:
    """A new page of a new browser context, signed in on the sign-in page with ``token``."""
    page = browser.new_context(accept_downloads=True, **context).new_page()
    page.goto(f"{base_url}/ui/sign-in?next=/ui/reports")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/ui/reports")
    return page
