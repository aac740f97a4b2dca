"""The queue page in a real browser: in-flight countdowns tick, receive counts show
against maxReceiveCount, and hostile message content stays text."""

from __future__ import annotations

from urllib.parse import quote

import boto3
import httpx

from .conftest import ARTIFACTS, Flow

XSS_BODY = "<img src=x onerror=alert(1)>"
XSS_ATTR = "<script>alert('attr')</script>"


def test_in_flight_countdown_ticks_and_content_stays_text(flow: Flow, suffix: str) -> None:
    queue = flow.api(
        "POST", "/api/queues",
        {"name": f"inspect-{suffix}", "new_dead_letter_queue": f"inspect-{suffix}-dlq",
         "max_receive_count": 3, "visibility_timeout": 30},
    )  # fmt: skip
    arn = queue["arn"]
    flow.api(
        "POST", f"/api/queues/{arn}/messages",
        {"body": XSS_BODY, "attributes": [{"name": "note", "type": "String", "value": XSS_ATTR}]},
    )  # fmt: skip
    flow.api("POST", f"/api/queues/{arn}/messages", {"body": "still waiting"})
    taken = flow.api(
        "POST", f"/api/queues/{arn}/receive", {"max_messages": 1, "visibility_timeout": 30}
    )
    page = flow.page
    page.goto(f"{flow.server.base}/queues/{quote(arn, safe=':')}/")
    page.wait_for_function("window.flowdashInspector && window.flowdashInspector.count === 2")
    row = page.locator(f'tr[data-message-id="{taken[0]["message_id"]}"]')
    assert row.locator("td.state").inner_text() == "in flight"
    assert row.locator("td.receives").inner_text() == "1 / 3"
    first = float(row.locator("td.countdown").inner_text().removesuffix(" s"))
    page.wait_for_timeout(1500)
    second = float(row.locator("td.countdown").inner_text().removesuffix(" s"))
    assert 25 < first <= 30 and 0.8 < first - second < 2.5  # it ticks, on the server's clock
    bodies = page.locator("td.body").all_inner_texts()
    assert XSS_BODY in bodies or any(taken[0]["body"] == b for b in bodies)
    assert page.locator("img[src=x]").count() == 0
    assert "1 visible · 1 in flight · 0 delayed" in page.locator("[data-summary]").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "queue-inspector.png"), full_page=True)
    assert flow.dialogs == []


def watched(flow: Flow, topic_arn: str) -> None:
    """Wait until the engine sees every publish to the topic: at once when the embedded
    broker reports; through the outside path, once its tap queue is subscribed."""
    if httpx.get(f"{flow.server.base}/healthz").json()["observer"] == "inside":
        return
    sns = boto3.client(
        "sns", endpoint_url=flow.server.moto, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip
    for _ in range(50):
        if sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]:
            return
        flow.page.wait_for_timeout(100)
    raise AssertionError("the engine never tapped the topic")


def test_trace_page_shows_hostile_content_as_text(flow: Flow, suffix: str) -> None:
    topic = flow.api("POST", "/api/topics", {"name": f"xss-{suffix}"})
    watched(flow, topic["arn"])
    published = flow.api(
        "POST", f"/api/topics/{topic['arn']}/publish",
        {"body": XSS_BODY, "subject": "<b>subject</b>",
         "attributes": [{"name": "note", "type": "String", "value": XSS_ATTR}]},
    )  # fmt: skip
    page = flow.page
    for _ in range(50):  # the engine stores events in batches
        if page.request.get(f"{flow.server.base}/api/traces/{published['message_id']}").ok:
            break
        page.wait_for_timeout(200)
    page.goto(f"{flow.server.base}/traces/{published['message_id']}/")
    assert page.locator("pre.body").inner_text() == XSS_BODY
    assert XSS_ATTR in page.locator("table.trace").inner_text()
    assert "<b>subject</b>" in page.locator("table.trace").inner_text()
    assert page.locator("img[src=x]").count() == 0 and page.locator("table.trace b").count() == 0
    assert flow.dialogs == []
