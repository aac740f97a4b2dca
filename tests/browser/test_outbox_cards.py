"""What SNS sends outside SQS shows up on the flow page as phone and inbox cards."""

from __future__ import annotations

from .conftest import Flow
from .test_queue_page import XSS_BODY, watched


def test_sms_and_email_deliveries_become_cards(flow: Flow, suffix: str) -> None:
    topic = flow.api("POST", "/api/topics", {"name": f"alerts-{suffix}"})
    for protocol, endpoint in (("sms", "+15550001111"), ("email", "ops@example.com")):
        flow.api(
            "POST", "/api/subscriptions",
            {"topic_arn": topic["arn"], "protocol": protocol, "endpoint": endpoint},
        )  # fmt: skip
    watched(flow, topic["arn"])
    flow.api(
        "POST", f"/api/topics/{topic['arn']}/publish", {"body": XSS_BODY, "subject": "Disk full"}
    )
    page = flow.page
    page.wait_for_function("document.querySelectorAll('.outbox .a2p-card').length === 2")
    sms = page.locator(".outbox .a2p-sms")
    assert sms.locator(".a2p-head").inner_text() == "SMS to +15550001111"
    assert sms.locator(".a2p-body").inner_text() == XSS_BODY  # text, not markup
    email = page.locator(".outbox .a2p-email")
    assert email.locator(".a2p-subject").inner_text() == "Disk full"
    assert page.locator(".outbox img").count() == 0 and flow.dialogs == []
