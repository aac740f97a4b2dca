"""A restart of Flowdash under an open flow page, in Chromium, without a reload.

A ``manage.py serve`` with embedded persistence (``FLOWDASH_PERSIST``, the default, under
its own ``FLOWDASH_VAR_DIR``) gets a topic, a queue with a dead-letter queue, a filtered
subscription and a few messages, two of them received (in flight). It is stopped and
started again on the same ports. The page that stayed open must say it is reconnecting,
come back live by itself, and show the restored topology and the restored depths: the
two in-flight messages come back visible, so "5 visible, 0 in flight" can only come
from the restarted server, never from what the page showed before the stop.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, expect

from messaging.embedded.persistence import STATE_FILE_NAME
from tests.live import LiveServer, flowdash_served, free_port

from .conftest import ARTIFACTS, Flow, flow_page

PASSWORD = "restart-test-password"
#: Chromium reports each failed reconnect attempt while the server is down.
SOCKET_DOWN = r"WebSocket connection to .* failed"


def depth(flow: Flow, queue: str) -> dict[str, str]:
    return {
        stat: flow.page.locator(flow.stat("queue", queue, stat)).text_content() or ""
        for stat in ("visible", "in_flight")
    }


def wait_saved(var: Path, ready: Any, timeout: float = 15) -> None:
    """The embedded state file holds the change (written every 2 s while things change),
    so the test does not depend on how the server is stopped."""
    path = var / STATE_FILE_NAME
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready(json.loads(path.read_text())):
                return
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.2)  # no page event to wait on: the file is written by the server
    raise AssertionError(f"{path} never held the messages")


def queue_messages(saved: dict[str, Any], name: str) -> int:
    """How many messages the saved state holds for queue ``name`` (its layout as
    tests/messaging/test_persistence.py reads it)."""
    for region in saved.get("sqs", []):
        for queue in region["queues"]:
            if queue["fields"]["_name"] == name:
                return len(queue["messages"])
    return 0


def test_open_page_recovers_after_a_restart_without_reload(
    browser: Browser, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    var.mkdir()
    ports = {"FLOWDASH_PORT": str(free_port()), "FLOWDASH_MOTO_PORT": str(free_port())}
    env = {"FLOWDASH_OBSERVER": "inside", "FLOWDASH_PERSIST": "1", **ports}
    with ExitStack() as first_running:
        first = first_running.enter_context(flowdash_served(var, password=PASSWORD, **env))
        pages = flow_page(browser, first, {"width": 1280, "height": 720})
        flow = next(pages)
        try:
            run(flow, first, first_running, var, env)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nserver log:\n{first.log_tail()}") from None
        finally:
            next(pages, None)  # closes the page; fails on unexpected console errors


def run(
    flow: Flow, first: LiveServer, first_running: ExitStack, var: Path, env: dict[str, str]
) -> None:
    page = flow.page
    topic, queue = flow.fanout_with_dlq(
        topic="restart-orders", queue="restart-work", visibility_timeout=600, kind="order"
    )
    order = [{"name": "kind", "type": "String", "value": "order"}]
    for n in range(3):
        flow.api(
            "POST",
            f"/api/topics/{topic['arn']}/publish",
            {"body": f"order {n}", "attributes": order},
        )
    for n in range(2):
        flow.api("POST", f"/api/queues/{queue['arn']}/messages", {"body": f"direct {n}"})
    received = flow.api("POST", f"/api/queues/{queue['arn']}/receive", {"max_messages": 2})
    assert len(received) == 2, received
    expect(page.locator(flow.stat("queue", "restart-work", "in_flight"))).to_have_text("2")
    expect(page.locator(flow.stat("queue", "restart-work", "visible"))).to_have_text("3")
    wait_saved(var, lambda saved: queue_messages(saved, "restart-work") == 5)

    page.evaluate("window.notReloaded = true")  # a reload would lose it
    flow.expect_console_error(SOCKET_DOWN)
    first_running.close()  # stops the first server (SIGTERM); the page stays open
    page.wait_for_function("window.flowdash.state === 'reconnecting'", timeout=20_000)
    expect(page.locator("[data-testid=connection]")).to_have_text("reconnecting…")
    states_before = page.evaluate("window.flowdash.states.length")

    with flowdash_served(var, password=PASSWORD, **env) as again:
        assert again.base == first.base
        assert "Embedded state: restored 1 topic, 2 queues, 1 subscription, 5 messages" in (
            again.log.read_text()
        ), again.log_tail()
        # Back by itself: live again, on the same page, with the restored state.
        page.wait_for_function(
            "([n]) => window.flowdash.states.slice(n).includes('live')"
            " && window.flowdash.state === 'live'",
            arg=[states_before],
            timeout=30_000,
        )
        assert page.evaluate("window.notReloaded") is True
        expect(page.locator(flow.stat("queue", "restart-work", "visible"))).to_have_text(
            "5", timeout=15_000
        )
        expect(page.locator(flow.stat("queue", "restart-work", "in_flight"))).to_have_text("0")
        for kind, name in (
            ("topic", "restart-orders"),
            ("queue", "restart-work"),
            ("queue", "restart-work-dlq"),
        ):
            expect(page.locator(f'.node-{kind}[data-name="{name}"]')).to_be_visible()
        sub = page.locator('.edge-sub[data-to="restart-work"]')
        expect(sub.locator(".pill-filter")).to_have_text("filter")
        expect(page.locator(".edge-redrive")).to_contain_text("after 4 receives")
        assert page.locator(".diagram .node").count() == 3

        # And it is live on the new server: a publication after the restart shows up.
        flow.api(
            "POST", f"/api/topics/{topic['arn']}/publish", {"body": "after", "attributes": order}
        )
        expect(page.locator(flow.stat("queue", "restart-work", "visible"))).to_have_text(
            "6", timeout=15_000
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "flow-after-restart.png"))
    flow.assert_clean()
