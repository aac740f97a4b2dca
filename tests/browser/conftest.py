"""Browser tests: Debian's Chromium, driven by Playwright, against a real `manage.py serve`.

One server (with its embedded moto) runs for the whole session, started as
tests/dashboard/test_serve.py starts it; moto is reset before each test and every
test names its resources uniquely, so workers configured by one test never meet
the next test's queues. Each test gets a fresh browser context, logged in through
the login form, and fails on any console error or uncaught page error.

The browser, Playwright and the server are package-scoped, not session-scoped:
Playwright's sync API keeps an event loop running in the main thread while it
is open, and asyncio tests in other folders cannot start theirs beside it.

Playwright's sync API delivers events (console, dialogs, frames) only while one
of its own calls runs, so waits use ``page.wait_for_function`` /
``page.wait_for_timeout``, never ``time.sleep``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.live import ROOT, LiveServer, flowdash_served

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("FLOWDASH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-" + secrets.token_urlsafe(9)
#: Requests the browser makes by itself, not the page: their 404s are not the page's errors.
BROWSER_NOISE = re.compile(r"/favicon\.ico$")


Server = LiveServer


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with flowdash_served(tmp_path_factory.mktemp("flowdash-var"), password=PASSWORD) as live:
        yield live


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) or set "
            "FLOWDASH_CHROMIUM. Browser tests fail rather than skip without it."
        )
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def fresh_moto(server: Server) -> Server:
    """Empty moto; the engine notices within its 1 s refresh."""
    request = urllib.request.Request(f"{server.moto}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return server


@pytest.fixture
def suffix() -> str:
    """Unique resource names per test: worker settings outlive a moto reset."""
    return secrets.token_hex(2)


@dataclass
class Flow:
    """A logged-in page on the flow diagram, collecting console errors."""

    page: Page
    server: Server
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)
    #: Dialogs (``window.confirm``) are dismissed unless a test says to accept them.
    accept_dialogs: bool = False

    def expect_console_error(self, pattern: str) -> None:
        """Allow one kind of console error, e.g. the browser's own line for a 400 answer."""
        self.expected.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]

    def assert_clean(self) -> None:
        assert self.unexpected_errors() == [], "console errors on the page"

    def open(self) -> None:
        self.page.goto(f"{self.server.base}/")
        self.page.wait_for_function("window.flowdash && window.flowdash.ready", timeout=15_000)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the JSON API as the page does: session cookie plus the CSRF header."""
        cookies = {c["name"]: c["value"] for c in self.page.context.cookies()}
        response = self.page.request.fetch(
            f"{self.server.base}{path}",
            method=method,
            headers={
                "X-CSRFToken": cookies.get("csrftoken", ""),
                "Content-Type": "application/json",
            },
            data=json.dumps(body) if body is not None else None,
        )
        assert response.ok, f"{method} {path}: {response.status} {response.text()}"
        return response.json() if response.status != 204 else None

    def fanout_with_dlq(
        self, *, topic: str, queue: str, visibility_timeout: int, kind: str,
        raw_message_delivery: bool = False,
    ) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """A topic and a queue with a DLQ (``<queue>-dlq``, 4 receives), subscribed with the
        filter policy ``{"kind": [kind]}``, made through the API; returns topic and queue."""
        made_topic = self.api("POST", "/api/topics", {"name": topic})
        made_queue = self.api(
            "POST", "/api/queues",
            {"name": queue, "new_dead_letter_queue": f"{queue}-dlq", "max_receive_count": 4,
             "visibility_timeout": visibility_timeout},
        )  # fmt: skip
        self.api(
            "POST", "/api/subscriptions",
            {"topic_arn": made_topic["arn"], "protocol": "sqs", "endpoint": made_queue["arn"],
             "filter_policy": {"kind": [kind]}, "raw_message_delivery": raw_message_delivery},
        )  # fmt: skip
        return made_topic, made_queue

    def click_node(self, kind: str, name: str) -> None:
        """Click a node where a user would: on the diagram, which cytoscape hit-tests.

        The diagram re-fits itself when the topology changes (a resync can land at any
        moment), so click once the card stands still, and again if the panel did not open.
        """
        card = self.page.locator(f'.node-{kind}[data-name="{name}"]')
        card.wait_for(state="visible")
        title = self.page.locator(".panel-title")
        for _ in range(5):
            box = card.bounding_box()
            self.page.wait_for_timeout(150)
            if box is None or box != card.bounding_box():
                continue
            self.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            try:
                expect(title).to_contain_text(name, timeout=2000)
                return
            except AssertionError:
                continue
        raise AssertionError(f"clicking the {kind} {name} did not open its panel")

    def stat(self, kind: str, name: str, stat: str) -> str:
        return f'.node-{kind}[data-name="{name}"] [data-stat="{stat}"] b'

    def wait_stat_at_least(
        self, kind: str, name: str, stat: str, n: int, timeout: int = 15_000
    ) -> None:
        selector = self.stat(kind, name, stat)
        self.page.wait_for_function(
            "([sel, n]) => Number(document.querySelector(sel)?.textContent ?? -1) >= n",
            arg=[selector, n],
            timeout=timeout,
        )


def _console_line(message: ConsoleMessage) -> str | None:
    if message.type != "error":
        return None
    url = (message.location or {}).get("url", "")
    if BROWSER_NOISE.search(url):
        return None
    return f"{message.text} ({url})"


def flow_page(
    browser: Browser,
    server: Server,
    viewport: dict[str, int],
    *,
    username: str = "instructor",
    password: str | None = None,
) -> Iterator[Flow]:
    """A page logged in through the login form (the instructor unless told otherwise)."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    flow = Flow(page=page, server=server)

    def on_console(message: ConsoleMessage) -> None:
        line = _console_line(message)
        if line:
            flow.errors.append(line)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: flow.errors.append(f"uncaught: {exc}"))
    page.on(
        "dialog",
        lambda dialog: (
            flow.dialogs.append(dialog.message),
            dialog.accept() if flow.accept_dialogs else dialog.dismiss(),
        ),
    )
    page.goto(f"{server.base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password or server.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.base}/")
    page.wait_for_function("window.flowdash && window.flowdash.ready", timeout=15_000)
    try:
        yield flow
    finally:
        context.close()
    if flow.unexpected_errors():
        pytest.fail(f"console errors: {flow.unexpected_errors()}")


@pytest.fixture
def flow(browser: Browser, fresh_moto: Server) -> Iterator[Flow]:
    """A 1280x720 page, the size of a lecture-hall projector."""
    yield from flow_page(browser, fresh_moto, {"width": 1280, "height": 720})


@pytest.fixture
def phone(browser: Browser, fresh_moto: Server) -> Iterator[Flow]:
    yield from flow_page(browser, fresh_moto, {"width": 390, "height": 844})
