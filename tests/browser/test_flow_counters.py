"""The flow page's "Reset counters" button, in Chromium against a real ``manage.py serve``.

Two instructors' pages watch the same topic and queue; one presses the button, is asked
to confirm (declining changes nothing), confirms, and both pages count from zero. A
viewer (not staff) has no such button, and the API refuses the reset to them too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.live import ROOT

from .conftest import Flow, Server, flow_page

VIEWER = "viewer"
VIEWER_PASSWORD = "viewer-password-for-tests"
CONFIRM = "Count again from zero on every screen?"


def viewer_ensure(server: Server) -> None:
    """A non-staff account in the served Flowdash's database (its var directory holds it)."""
    env = {**os.environ, "FLOWDASH_VAR_DIR": str(server.log.parent)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    script = (
        "from django.contrib.auth.models import User\n"
        f"u, _ = User.objects.get_or_create(username={VIEWER!r})\n"
        f"u.is_staff = False\nu.set_password({VIEWER_PASSWORD!r})\nu.save()\n"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def second(browser: Browser, fresh_moto: Server) -> Iterator[Flow]:
    """Another instructor's window on the same flow."""
    yield from flow_page(browser, fresh_moto, {"width": 1280, "height": 720})


@pytest.fixture
def viewer(browser: Browser, fresh_moto: Server) -> Iterator[Flow]:
    viewer_ensure(fresh_moto)
    yield from flow_page(
        browser, fresh_moto, {"width": 1280, "height": 720},
        username=VIEWER, password=VIEWER_PASSWORD,
    )  # fmt: skip


def shown(flow: Flow, topic: str, queue: str) -> tuple[str, str]:
    page = flow.page
    return (
        page.locator(flow.stat("topic", topic, "published")).text_content() or "",
        page.locator(flow.stat("queue", queue, "delivered")).text_content() or "",
    )


def test_reset_counters_on_the_flow_page_zeroes_every_open_page(
    flow: Flow, second: Flow, suffix: str
) -> None:
    topic = flow.api("POST", "/api/topics", {"name": f"count-{suffix}"})
    queue = flow.api("POST", "/api/queues", {"name": f"count-{suffix}"})
    flow.api(
        "POST", "/api/subscriptions",
        {"topic_arn": topic["arn"], "protocol": "sqs", "endpoint": queue["arn"]},
    )  # fmt: skip
    for n in range(3):
        flow.api("POST", f"/api/topics/{topic['arn']}/publish", {"body": f"order {n}"})
    for page in (flow, second):
        page.wait_stat_at_least("topic", topic["name"], "published", 3)
        page.wait_stat_at_least("queue", queue["name"], "delivered", 3)
    assert shown(flow, topic["name"], queue["name"]) == ("3", "3")

    button = flow.page.locator("button[name=reset-counters]")
    # Declining the confirmation changes nothing.
    button.click()
    flow.page.wait_for_timeout(1500)  # room for a reset that should not happen
    assert flow.dialogs == [CONFIRM]
    for page in (flow, second):
        assert shown(page, topic["name"], queue["name"]) == ("3", "3")

    flow.accept_dialogs = True
    button.click()
    for page in (flow, second):
        expect(page.page.locator(page.stat("topic", topic["name"], "published"))).to_have_text(
            "0", timeout=15_000
        )
        expect(page.page.locator(page.stat("queue", queue["name"], "delivered"))).to_have_text("0")
    expect(flow.page.locator(".counters-status")).to_have_text("Counters reset.")
    assert flow.dialogs == [CONFIRM, CONFIRM]

    # Counting goes on from zero on both pages.
    flow.api("POST", f"/api/topics/{topic['arn']}/publish", {"body": "after the reset"})
    for page in (flow, second):
        page.wait_stat_at_least("queue", queue["name"], "delivered", 1)
        assert shown(page, topic["name"], queue["name"]) == ("1", "1")
    flow.assert_clean()
    second.assert_clean()


def test_viewers_have_no_reset_counters_button(viewer: Flow) -> None:
    page = viewer.page
    expect(page.locator("button[name=add]")).to_be_visible()  # the toolbar is there
    expect(page.locator("button[name=reset-counters]")).to_have_count(0)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    refused = page.request.post(
        f"{viewer.server.base}/api/counters/reset",
        headers={"X-CSRFToken": cookies.get("csrftoken", "")},
    )
    assert refused.status == 403, refused.text()
    viewer.assert_clean()
