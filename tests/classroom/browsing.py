"""What the classroom's browser tests share (their ``server`` fixture is in conftest):
Debian's Chromium (a missing one fails, it is not skipped), the console watch, and a
wait that says what the page's flags were when it times out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.live import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
PASSWORD = "classroom-test-password"
WAIT_MS = 30_000


def in_chromium(server: LiveServer, run: Callable[[Browser, str], None]) -> None:
    """Run a scenario in a fresh Chromium; a failure carries the server's last log lines."""
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM} (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            run(browser, server.base)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nserver log:\n{server.log_tail()}") from None
        finally:
            browser.close()


class Console:
    """Console errors and uncaught exceptions of the pages it watches.

    Chromium logs every HTTP error response as a console error. The test provokes
    some on purpose (an unknown join code, a removed participant's next request);
    those are listed with `expect` and only those are let through.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected: set[tuple[int, str]] = set()

    def expect(self, status: int, path: str) -> None:
        self.expected.add((status, path))

    def watch(self, page: Page, label: str) -> Page:
        def on_console(message: ConsoleMessage) -> None:
            if message.type != "error":
                return
            url = message.location.get("url", "")
            for status, path in self.expected:
                if f"status of {status} " in message.text and url.endswith(path):
                    return
            self.errors.append(f"{label}: {message.text} ({url})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"{label}: {exc}"))
        return page


def flag(page: Page, expression: str, arg: Any = None) -> None:
    """Wait for a condition on the page; on a timeout, say what the page's flags were."""
    try:
        page.wait_for_function(expression, arg=arg, timeout=WAIT_MS)
    except PlaywrightTimeout:
        state = page.evaluate(
            "JSON.stringify({presenter: window.flowdashPresenter, participant: "
            "window.flowdashParticipant, status: document.querySelector('[role=status]')"
            "?.textContent})"
        )
        raise AssertionError(f"timed out waiting for {expression}; page state: {state}") from None


def instructor_context(browser: Browser, base: str, **options: Any) -> BrowserContext:
    """A browser context logged in as the instructor through the form. The login page is
    closed again: not a classroom page, its console is not the test's to judge."""
    context = browser.new_context(base_url=base, **options)
    login = context.new_page()
    login.goto("/login/")
    login.fill("input[name=username]", "instructor")
    login.fill("input[name=password]", PASSWORD)
    login.click("button[type=submit]")
    login.wait_for_url(f"{base}/")
    login.close()
    return context
