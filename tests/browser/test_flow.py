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
    create_from_panel(
        flow, "queue-create-form", name=billing, new_dead_letter_queue=f"{billing}-dlq"
    )
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
    inspector = page.locator("dialog.trace-inspector")
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
    expect(filtered).to_have_attribute(
        "title", re.compile(r"^Filtered by the subscription's policy: size: ")
    )
    page.wait_for_timeout(700)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "flow-diagram.png"))

    # A dot is a message too: clicking one that stopped at the filter opens its journey.
    # (Filtered dots pile up where they stopped: click the spot, whichever is on top.)
    box = page.locator(".dot.filtered:not(.fade)").last.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(timeline.locator('[data-type="filtered"]')).to_contain_text(f"⊘ {shipping}: size")
    inspector.locator("button[name=close]").click()
    flow.wait_stat_at_least("queue", billing, "delivered", 13)
    expect(shipping_edge.locator(".filtered-count")).to_have_text("⊘ 12")
    flow.assert_clean()


def make_fanout(flow: Flow, suffix: str, **queue: object) -> tuple[dict, dict, dict]:
    """A topic with one subscribed queue, made through the API (not the subject here)."""
    topic = flow.api("POST", "/api/topics", {"name": f"news-{suffix}"})
    q = flow.api("POST", "/api/queues", {"name": f"inbox-{suffix}", **queue})
    sub = flow.api(
        "POST",
        "/api/subscriptions",
        {"topic_arn": topic["arn"], "protocol": "sqs", "endpoint": q["arn"]},
    )
    expect(flow.page.locator(f'.edge-sub[data-to="{q["name"]}"]')).to_be_visible()
    return topic, q, sub


def test_message_bodies_are_text_never_html(flow: Flow, suffix: str) -> None:
    page = flow.page
    topic, queue, _ = make_fanout(flow, suffix)
    flow.click_node("topic", topic["name"])
    publish = page.locator("#publish-form")
    publish.locator("[name=body]").fill(XSS)
    publish.locator("button[type=submit]").click()
    expect(publish.locator(".form-ok")).to_contain_text("Published")

    entry = page.locator(".log-list .ev-published").first
    expect(entry.locator(".ev-text")).to_have_text(f"to {topic['name']}: “{XSS}”")
    entry.click()
    inspector = page.locator("dialog.trace-inspector")
    expect(inspector.locator(".inspector-body")).to_have_text(XSS)
    expect(inspector.locator('.timeline [data-type="delivered"]')).to_have_count(1)
    page.wait_for_timeout(300)
    assert page.locator("img").count() == 0
    assert flow.dialogs == []
    inspector.locator("button[name=close]").click()

    # The log pauses (holding what arrives) and filters by resource and type.
    log = page.locator(".log")
    log.locator("button[name=pause]").click()
    flow.api("POST", f"/api/topics/{topic['arn']}/publish", {"body": "while paused"})
    expect(log.locator("button[name=pause]")).to_have_text(re.compile(r"^Resume \(\d+ new\)$"))
    expect(log.locator(".ev-text", has_text="while paused")).to_have_count(0)
    log.locator("button[name=pause]").click()
    expect(log.locator(".ev-text", has_text="while paused")).to_have_count(1)
    log.locator("select[name=resource]").select_option(label=queue["name"])
    log.locator("select[name=type]").select_option("delivered")
    expect(log.locator(".ev")).to_have_count(2)
    expect(log.locator(".ev-text").first).to_have_text(f"{topic['name']} → {queue['name']}")
    assert page.locator("img").count() == 0
    assert flow.dialogs == []
    flow.assert_clean()


def test_connection_state_reconnects_and_resyncs(flow: Flow) -> None:
    page = flow.page
    indicator = page.locator(".conn")
    expect(indicator).to_have_text("live")
    expect(indicator).to_have_attribute("data-state", "live")

    page.evaluate("window.flowdash.drop()")
    expect(indicator).to_have_attribute("data-state", "reconnecting")
    expect(indicator).to_have_text("reconnecting…")
    expect(indicator).to_have_attribute("data-state", "live", timeout=10_000)
    expect(indicator).to_have_text("live")

    # A frame that skips sequence numbers means frames were lost: resync, then live again.
    last = page.evaluate("window.flowdash.lastSeq")
    page.evaluate(
        """(seq) => window.flowdash.inject({type: "frame", from_seq: seq + 3, to_seq: seq + 3,
             events: [], counts: {}, sampled: false})""",
        last,
    )
    expect(indicator).to_have_attribute("data-state", "live", timeout=10_000)
    states = page.evaluate("window.flowdash.states")
    assert states[-4:] == ["reconnecting", "live", "resyncing", "live"], states
    flow.assert_clean()


def test_filter_policy_edit_and_preview_from_the_edge(flow: Flow, suffix: str) -> None:
    page = flow.page
    topic, queue, _ = make_fanout(flow, suffix)
    for colour in ("red", "blue"):
        attribute = {"name": "colour", "type": "String", "value": colour}
        body = {"body": f"a {colour} one", "attributes": [attribute]}
        flow.api("POST", f"/api/topics/{topic['arn']}/publish", body)
    flow.wait_stat_at_least("queue", queue["name"], "delivered", 2)

    page.locator(f'.edge-sub[data-to="{queue["name"]}"]').click()
    form = page.locator("#policy-form")
    expect(page.locator(".panel-title")).to_contain_text(f"{topic['name']} → {queue['name']}")

    # An invalid policy: the API's error appears next to the policy field.
    flow.expect_console_error(r"status of 400 .*/api/subscriptions/")
    form.locator("[name=filter_policy]").fill('{"colour": "red"}')
    form.locator("button[type=submit]").click()
    error = form.locator('[data-field="filter_policy"] .field-error')
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()

    form.locator("[name=filter_policy]").fill('{"colour": ["red"]}')
    form.get_by_role("button", name="Preview on recent messages").click()
    preview = page.locator(".preview li")
    expect(preview).to_have_count(2)
    expect(preview.filter(has_text="a red one").locator(".verdict")).to_have_text("✓ accepted")
    expect(preview.filter(has_text="a blue one").locator(".verdict")).to_have_text("✗ filtered")
    expect(preview.filter(has_text="a blue one").locator(".reason")).to_contain_text("colour")
    expect(error).to_be_hidden()

    form.locator("button[type=submit]").click()
    expect(form.locator(".form-ok")).to_contain_text("Saved")
    edge = page.locator(f'.edge-sub[data-to="{queue["name"]}"]')
    expect(edge.locator(".pill-filter")).to_have_text("filter")
    expect(edge.locator(".pill-filter")).to_have_attribute(
        "title", 'MessageAttributes: {"colour": ["red"]}'
    )

    flow.api("POST", f"/api/topics/{topic['arn']}/publish", {"body": "no colour at all"})
    expect(edge.locator(".filtered-count")).to_have_text("⊘ 1")
    expect(page.locator(".log-list .ev-filtered").first).to_contain_text(
        f"{topic['name']} ⊘ {queue['name']}: colour"
    )
    flow.assert_clean()


def test_failure_bounces_back_and_dead_letters(flow: Flow, suffix: str) -> None:
    page = flow.page
    dlq = f"jobs-{suffix}-dlq"
    jobs = flow.api("POST", "/api/queues", {
        "name": f"jobs-{suffix}", "new_dead_letter_queue": dlq, "max_receive_count": 1,
        "visibility_timeout": 1,
    })  # fmt: skip
    flow.api("PUT", f"/api/queues/{jobs['arn']}/workers", {"count": 1, "min_ms": 50, "max_ms": 50})
    worker = f"jobs-{suffix}#1"
    expect(page.locator(f'.node-worker[data-name="{worker}"]')).to_be_visible()
    expect(page.locator(f'.node-dlq[data-name="{dlq}"]')).to_be_visible()

    flow.click_node("queue", jobs["name"])
    send = page.locator("#send-form")
    send.locator("[name=body]").fill("a poison pill")
    send.locator("button[type=submit]").click()
    expect(send.locator(".form-ok")).to_contain_text("Sent")
    page.wait_for_function("document.querySelector('.dot.failed') !== null", timeout=10_000)
    flow.wait_stat_at_least("worker", worker, "failed", 1)
    flow.wait_stat_at_least("queue", jobs["name"], "failed", 1)

    # SQS moves it during a later receive, once its visibility timeout has lapsed; the
    # worker tells it went to the DLQ from the first receive that starts after that and
    # comes back without it. Two more messages make those receives return at once.
    page.wait_for_timeout(1200)
    for n, body in enumerate(("a good one", "another good one"), start=1):
        send.locator("[name=body]").fill(body)
        send.locator("button[type=submit]").click()
        flow.wait_stat_at_least("worker", worker, "processed", n)
    flow.wait_stat_at_least("queue", dlq, "delivered", 1)
    log = page.locator(".log")
    log.locator("select[name=type]").select_option("dead_lettered")
    expect(log.locator(".ev")).to_have_count(1)
    expect(log.locator(".ev-text")).to_have_text(f"{jobs['name']} → {dlq} after 1 receives")

    # Peek on the DLQ is a real ReceiveMessage, and says so.
    flow.click_node("queue", dlq)
    peek = page.locator("#peek-form")
    expect(peek.locator(".warning")).to_contain_text("real ReceiveMessage")
    peek.locator("button[type=submit]").click()
    expect(peek.locator(".message pre")).to_have_text("a poison pill")
    expect(peek.locator(".message-head")).to_contain_text("receive count 2")
    peek.get_by_role("button", name="return to queue").click()
    expect(peek.locator(".message-actions")).to_contain_text("returned to the queue")

    purge = page.locator('[data-section="purge"]')
    purge.get_by_role("button", name="Purge…").click()
    purge.get_by_role("button", name=f"Delete every message in {dlq}").click()
    expect(purge.locator(".form-ok")).to_contain_text("Purged")
    flow.assert_clean()


def test_usable_on_a_phone(phone: Flow, suffix: str) -> None:
    page = phone.page
    topic, queue, _ = make_fanout(phone, suffix)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    phone.click_node("topic", topic["name"])
    publish = page.locator("#publish-form")
    publish.locator("[name=body]").fill("from a phone")
    publish.locator("button[type=submit]").click()
    expect(publish.locator(".form-ok")).to_contain_text("Published")
    phone.wait_stat_at_least("queue", queue["name"], "delivered", 1)
    expect(page.locator(".log-list .ev-published").first).to_contain_text("from a phone")
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "flow-phone.png"))
    phone.assert_clean()


LAYOUT_JS = """async ([before, after]) => {
  const { layoutCompute } = await import("/static/js/layout.js");
  const place = (topology, workers) => Object.fromEntries(
    layoutCompute(topology, workers).nodes.map((n) => [n.id, [n.x, n.y]]));
  const shuffled = (t) => ({
    topics: [...t.topics].reverse(), queues: [...t.queues].reverse(),
    subscriptions: [...t.subscriptions].reverse(),
  });
  return {
    before: place(before, before.workers), after: place(after, after.workers),
    shuffled: place(shuffled(before), [...before.workers].reverse()),
  };
}"""


def _topology(*queues: str) -> dict:
    arn = "arn:aws:sqs:us-east-1:1:{}".format
    topic = "arn:aws:sns:us-east-1:1:orders"
    dlq = {"billing": arn("billing-dlq")}
    return {
        "topics": [{"arn": topic, "name": "orders"}],
        "queues": [
            {"arn": arn(q), "name": q, "dead_letter_arn": dlq.get(q), "max_receive_count": 3}
            for q in queues
        ],
        "subscriptions": [
            {"arn": f"{topic}:{q}", "topic_arn": topic, "protocol": "sqs", "endpoint": arn(q)}
            for q in ("billing", "shipping")
        ],
        "workers": [{"name": "billing#1", "queue_arn": arn("billing")}],
    }  # fmt: skip


def test_layout_is_stable_and_ordered_by_name(flow: Flow) -> None:
    base = _topology("billing", "billing-dlq", "shipping")
    appended = flow.page.evaluate(
        LAYOUT_JS, [base, _topology("billing", "billing-dlq", "shipping", "zoo")]
    )
    assert appended["shuffled"] == appended["before"], "the input order must not matter"
    for node, position in appended["before"].items():
        assert appended["after"][node] == position, f"{node} moved when a later queue was added"

    inserted = flow.page.evaluate(
        LAYOUT_JS, [base, _topology("audit", "billing", "billing-dlq", "shipping")]
    )
    before, after = inserted["before"], inserted["after"]
    columns = {node: x for node, (x, _) in before.items()}
    assert {node: after[node][0] for node in before} == columns, "nodes changed column"
    shifts = {round(after[node][1] - y) for node, (_, y) in before.items()}
    assert len(shifts) == 1, f"existing nodes moved by different amounts: {shifts}"
    by_y = sorted(
        (y, node)
        for node, (x, y) in after.items()
        if x == columns["arn:aws:sqs:us-east-1:1:billing"]
    )
    assert [node.rsplit(":", 1)[-1] for _, node in by_y] == ["audit", "billing", "shipping"]
    flow.assert_clean()
