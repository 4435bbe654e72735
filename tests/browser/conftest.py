"""Headless Chromium for the browser tests: one browser per session, one context per test.

Playwright's sync API runs an event loop in the main thread, which makes Django
refuse ORM calls from the test body; the tests and the live server touch the
database one after the other, never at once, so the guard can be lifted here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from tests.conftest import PASSWORD

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}
# Fail fast: every page here answers in milliseconds from the live server.
TIMEOUT_MS = 5_000

# Runs before any page script, outside the CSP: records every policy violation the page hits.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || ""));
});
"""


def chromium_missing_reason() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"browser tests need Chromium at {CHROMIUM} (not found or not executable)"
    return None


@dataclass
class BrowserEvents:
    """What the page said while a test drove it: console errors, uncaught errors, dialogs."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def csp_violations(self, page) -> list[str]:
        """Violations recorded in the current document (reset by a full page load)."""
        return page.evaluate("window.__cspViolations || []")


@pytest.fixture(scope="session")
def browser():
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_events() -> BrowserEvents:
    return BrowserEvents()


@pytest.fixture
def page(browser, live_server, browser_events):
    """A fresh context (no cookies) on the live server, watched for errors and dialogs."""
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = context.new_page()
    page.on(
        "console",
        lambda msg: browser_events.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: browser_events.page_errors.append(str(exc)))

    def on_dialog(dialog):
        browser_events.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    context.close()


def log_in(page, username: str, password: str = PASSWORD, next_url: str = "") -> None:
    """Log in through the form, as a person would; lands on `next_url` (or home)."""
    page.goto("/accounts/login/" + (f"?next={next_url}" if next_url else ""))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("form[action$='/accounts/login/'] button[type=submit]")
    assert "/accounts/login/" not in page.url, f"login as {username} failed"
