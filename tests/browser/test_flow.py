"""The live flow diagram in a real browser: built, driven and read through the UI."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from .conftest import ARTIFACTS, Flow

XSS = "<img src=x onerror=alert(1)>"


def create_from_panel(flow: Flow, form: str, **fields: str) -> None:
    page = flow.page
    page.click("button[name=add]")
    for name, value in fields.items():
        page.fill(f"#{form} [name={name}]", value)
    page.click(f"#{form} button[type=submit]")
    expect(page.locator(f"#{form} .form-ok")).to_contain_text("created")


def subscribe_from_panel(flow: Flow, queue: str, policy: str = "") -> None:
    page = flow.page
    form = page.locator("#subscribe-form")
    form.locator("[name=endpoint]").select_option(label=queue)
    form.locator("[name=filter_policy]").fill(policy)
    form.locator("button[type=submit]").click()
    expect(form.locator(".form-ok")).to_have_text(f"Subscribed {queue}.")


def test_build_a_fanout_in_the_ui_and_follow_a_message(flow: Flow, suffix: str) -> None:
    page = flow.page
    topic, billing, shipping = f"orders-{suffix}", f"billing-{suffix}", f"shipping-{suffix}"
    worker = f"{billing}#1"

    # A topic and two queues (billing with a dead-letter queue), from the diagram's own forms.
    create_from_panel(flow, "topic-create-form", name=topic)
    create_from_panel(flow, "queue-create-form", name=billing, new_dead_letter_queue=f"{billing}-dlq")
    create_from_panel(flow, "queue-create-form", name=shipping)
    for kind, name in (("topic", topic), ("queue", billing), ("queue", shipping)):
        expect(page.locator(f'.node-{kind}[data-name="{name}"]')).to_be_visible()
    expect(page.locator(".edge-redrive")).to_contain_text("after 3 receives")

    # Subscribe both queues from the topic's panel; shipping only takes big orders.
    flow.click_node("topic", topic)
    expect(page.locator(".panel-title")).to_contain_text(topic)
    subscribe_from_panel(flow, billing)
    subscribe_from_panel(flow, shipping, '{"size": ["big"]}')
    billing_edge = page.locator(f'.edge-sub[data-to="{billing}"]')
    shipping_edge = page.locator(f'.edge-sub[data-to="{shipping}"]')
    expect(billing_edge).to_be_visible()
    expect(shipping_edge.locator(".pill-filter")).to_have_text("filter")

    # One worker on billing, started from the queue's panel.
    flow.click_node("queue", billing)
    workers = page.locator("#workers-form")
    workers.locator("[name=count]").fill("1")
    workers.locator("[name=min_ms]").fill("300")
    workers.locator("[name=max_ms]").fill("400")
    workers.locator("button[type=submit]").click()
    expect(workers.locator(".form-ok")).to_have_text(f"1 worker on {billing}.")
    expect(page.locator(f'.node-worker[data-name="{worker}"]')).to_be_visible()

    # Publish from the topic's panel, with the attribute shipping's policy wants.
    flow.click_node("topic", topic)
    publish = page.locator("#publish-form")
    publish.locator("[name=body]").fill('{"order": 42, "items": ["tea"]}')
    publish.locator("[name=attr-name]").fill("size")
    publish.locator("[name=attr-value]").fill("big")
    publish.locator("button[type=submit]").click()
    expect(publish.locator(".form-ok")).to_contain_text("Published")

    flow.wait_stat_at_least("topic", topic, "published", 1)
    flow.wait_stat_at_least("queue", billing, "delivered", 1)
    flow.wait_stat_at_least("queue", shipping, "delivered", 1)
    flow.wait_stat_at_least("worker", worker, "processed", 1)
    flow.wait_stat_at_least("queue", billing, "processed", 1)
    expect(billing_edge).to_have_attribute("title", re.compile(r"^1 delivered, 0 filtered"))

    # The inspector shows the whole journey, the body pretty-printed, the attributes.
    publish.locator(".trace-link").click()
    inspector = page.locator("dialog.inspector")
    expect(inspector).to_be_visible()
    timeline = inspector.locator(".timeline")
    for kind in ("published", "received", "processed"):
        expect(timeline.locator(f'[data-type="{kind}"]')).to_have_count(1)
    expect(timeline.locator('[data-type="delivered"]')).to_have_count(2)
    expect(timeline.locator('[data-type="processed"]')).to_contain_text(worker)
    expect(timeline.locator(".elapsed").first).to_have_text("+0 ms")
    body = inspector.locator(".inspector-body")
    assert json.loads(body.text_content() or "") == {"order": 42, "items": ["tea"]}
    expect(body).to_contain_text('"order": 42')
    expect(inspector.locator(".inspector-attrs")).to_contain_text("size")
    inspector.locator("button[name=close]").click()
    expect(inspector).to_be_hidden()

    # Messages without the attribute are filtered at shipping's edge; show them in motion.
    flow.click_node("topic", topic)
    burst = page.locator("#burst-form")
    burst.locator("[name=count]").fill("12")
    burst.locator("[name=rate]").fill("8")
    burst.locator("button[type=submit]").click()
    expect(burst.locator(".form-ok")).to_have_text("Sending 12 messages in the background.")
    page.wait_for_function("document.querySelectorAll('.dot.filtered').length > 0", timeout=10_000)
    filtered = page.locator(".dot.filtered").first
    expect(filtered).to_have_attribute("title", re.compile(r"^Filtered by the subscription's policy: size: "))
    page.wait_for_timeout(700)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "flow-diagram.png"))
    flow.wait_stat_at_least("queue", billing, "delivered", 13)
    expect(shipping_edge.locator(".filtered-count")).to_have_text("⊘ 12")
    flow.assert_clean()
