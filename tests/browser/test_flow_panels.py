"""The flow page's side panel for a class: subscribing comes first and offers only the
queues that make sense, failure rates are percentages, and the log names the queue a
subscription delivers to."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from .conftest import ARTIFACTS, Flow


def test_subscribe_first_and_only_to_queues_that_make_sense(flow: Flow, suffix: str) -> None:
    page = flow.page
    topic = flow.api("POST", "/api/topics", {"name": f"orders-{suffix}"})
    billing = flow.api(
        "POST", "/api/queues",
        {"name": f"billing-{suffix}", "new_dead_letter_queue": f"billing-{suffix}-dlq"},
    )  # fmt: skip
    shipping = flow.api("POST", "/api/queues", {"name": f"shipping-{suffix}"})
    flow.api(
        "POST", "/api/subscriptions",
        {"topic_arn": topic["arn"], "protocol": "sqs", "endpoint": billing["arn"]},
    )  # fmt: skip
    expect(page.locator(f'.edge-sub[data-to="{billing["name"]}"]')).to_be_visible()

    flow.click_node("topic", topic["name"])
    first = page.locator(".panel-body form").first
    expect(first).to_have_id("subscribe-form")
    select = first.locator("[name=endpoint]")
    expect(select.locator(f'option[value="{shipping["arn"]}"]')).to_be_enabled()
    subscribed = select.locator(f'option[value="{billing["arn"]}"]')
    expect(subscribed).to_be_disabled()
    expect(subscribed).to_have_text(f"{billing['name']} (subscribed already)")
    dead_letter = select.locator(f'option[value="{billing["dead_letter_arn"]}"]')
    expect(dead_letter).to_be_disabled()
    expect(dead_letter).to_have_text(f"{billing['name']}-dlq (dead-letter queue)")

    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".panel").screenshot(path=str(ARTIFACTS / "flow-subscribe-panel.png"))

    # Subscribing from the panel: the queue is no longer offered, and the log names it.
    select.select_option(label=shipping["name"])
    first.locator("button[type=submit]").click()
    expect(first.locator(".form-ok")).to_have_text(f"Subscribed {shipping['name']}.")
    expect(select.locator(f'option[value="{shipping["arn"]}"]')).to_be_disabled()
    expect(select).to_have_value("")
    expect(select.locator("option").first).to_have_text("— every queue is subscribed —")
    log = page.locator(".log-list .ev-resource_changed .ev-text")
    for queue in (billing, shipping):  # made through the API, and from the panel
        line = f"subscription created: {topic['name']} → {queue['name']}"
        expect(log.filter(has_text=line)).to_have_count(1)
    flow.assert_clean()


def test_failure_rate_is_a_percentage(flow: Flow, suffix: str) -> None:
    page = flow.page
    queue = flow.api("POST", "/api/queues", {"name": f"jobs-{suffix}"})
    flow.click_node("queue", queue["name"])
    workers = page.locator("#workers-form")
    rate = workers.get_by_label("Failure rate (%)")
    expect(rate).to_have_value("0")

    rate.fill("130")
    workers.locator("button[type=submit]").click()
    error = workers.locator('[data-field="failure_rate"] .field-error')
    expect(error).to_have_text("The failure rate is a percentage: from 0 to 100.")

    workers.get_by_label("Workers").fill("1")
    rate.fill("30")
    with page.expect_request(lambda r: r.method == "PUT" and "/workers" in r.url) as sent:
        workers.locator("button[type=submit]").click()
    assert json.loads(sent.value.post_data or "{}")["failure_rate"] == 0.3
    expect(workers.locator(".form-ok")).to_have_text(f"1 worker on {queue['name']}.")
    expect(error).to_be_hidden()
    flow.api("PUT", f"/api/queues/{queue['arn']}/workers", {"count": 0})
    flow.assert_clean()
