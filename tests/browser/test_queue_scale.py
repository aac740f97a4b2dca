"""The queue page at lecture-hall scale: thousands of messages a page at a time, found by
search, each with its id, journey link and send time; live counts; the settings form;
usable on a projector and on a phone."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

import boto3
from playwright.sync_api import Page, expect

from .conftest import ARTIFACTS, Flow

MESSAGES = 5000
DASH = "\N{EN DASH}"  # between the first and last message of a page
ATTRIBUTE_ERROR = re.compile(r"status of 400")


#: The last character of every line but the last of an element's text: where it wraps.
LINE_ENDS = """(el) => {
  const text = el.firstChild, range = document.createRange(), ends = [];
  let top = null;
  for (let i = 0; i < text.length; i++) {
    range.setStart(text, i);
    range.setEnd(text, i + 1);
    const y = range.getBoundingClientRect().top;
    if (top !== null && y > top + 2) ends.push(text.data[i - 1]);
    top = y;
  }
  return ends;
}"""


def sqs(flow: Flow) -> Any:
    """A boto3 client on the served embedded moto's own port, as any outside script."""
    return boto3.client(
        "sqs", endpoint_url=flow.server.moto, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip


def send_many(flow: Flow, url: str, count: int, *, start: int = 0) -> None:
    client = sqs(flow)
    for first in range(start, start + count, 10):
        entries = [
            {
                "Id": str(n),
                "MessageBody": f'{{"order": {n}, "item": "tea"}}',
                "MessageAttributes": {
                    "region": {"DataType": "String", "StringValue": ("eu", "us")[n % 2]}
                },
            }
            for n in range(first, min(first + 10, start + count))
        ]
        answer = client.send_message_batch(QueueUrl=url, Entries=entries)
        assert not answer.get("Failed"), answer["Failed"]


def queue_page(page: Page, flow: Flow, arn: str) -> None:
    page.goto(f"{flow.server.base}/queues/{quote(arn, safe=':')}/")
    page.wait_for_function("window.flowdashInspector && window.flowdashInspector.loads > 0")


def wait_inspector(page: Page, expression: str, arg: Any = None, timeout: int = 15_000) -> None:
    page.wait_for_function(
        "(arg) => { const i = window.flowdashInspector; "
        f"return i && i.ready && ({expression}); }}",
        arg=arg, timeout=timeout,
    )  # fmt: skip


def test_five_thousand_messages_page_and_search(flow: Flow, suffix: str) -> None:
    page = flow.page
    queue = flow.api("POST", "/api/queues", {"name": f"deep-{suffix}"})
    started = time.monotonic()
    send_many(flow, queue["url"], MESSAGES)
    needle = f"needle-{suffix}"
    sqs(flow).send_message(
        QueueUrl=queue["url"], MessageBody=f"the {needle} in the haystack",
        MessageAttributes={
            "colour": {"DataType": "String", "StringValue": f"ultraviolet-{suffix}"}
        },
    )  # fmt: skip
    sent_in = time.monotonic() - started
    total = MESSAGES + 1

    queue_page(page, flow, queue["arn"])
    wait_inspector(page, "i.total === arg", total)
    rows = page.locator("table.messages tbody tr")
    expect(rows).to_have_count(50)
    expect(page.locator("[data-range]")).to_have_text(f"1{DASH}50 of {total:,}")
    expect(page.locator('[data-count="visible"]')).to_have_text(f"{total:,}")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 3000, f"the page is {height}px tall with {total} messages"

    # Each row: its id linking to its journey, a human time with the exact one in its title.
    first = rows.first
    message_id = first.get_attribute("data-message-id") or ""
    link = first.locator("a.trace-link")
    expect(link).to_have_attribute("href", f"/traces/{message_id}/")
    expect(link).to_have_text(message_id[:8])
    sent = first.locator("td.sent time")
    expect(sent).to_have_text(re.compile(r"now|second|minute"))
    assert re.search(r"\d", sent.get_attribute("title") or "")

    # The send, peek and settings controls come before the list, not after it.
    list_top = page.locator("section.inspector").bounding_box()
    for control in ("#send-form", "#peek-form", "#settings-form"):
        box = page.locator(control).bounding_box()
        assert box and list_top and box["y"] < list_top["y"], f"{control} is below the list"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "queue-page-1280.png"))
    page.screenshot(path=str(ARTIFACTS / "queue-page-1280-full.png"), full_page=True)

    # Paging.
    page.get_by_role("button", name="Next →").click()
    wait_inspector(page, "i.offset === 50")
    expect(page.locator("[data-range]")).to_have_text(f"51{DASH}100 of {total:,}")
    assert "page=2" in page.url

    # Search by body, then by an attribute's value; the counts stay the whole queue's.
    search = page.get_by_label("Search bodies and attributes")
    search.fill(needle)
    wait_inspector(page, "i.query === arg && i.count === 1", needle)
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.body")).to_have_text(f"the {needle} in the haystack")
    expect(page.locator("[data-range]")).to_have_text(f"1{DASH}1 of 1 matching ({total:,} in all)")
    search.fill(f"ULTRAVIOLET-{suffix}")
    wait_inspector(page, "i.query === arg && i.count === 1", f"ULTRAVIOLET-{suffix}")
    expect(rows.first.locator("td.body")).to_contain_text(needle)
    search.fill(f"nothing-like-this-{suffix}")
    wait_inspector(page, "i.matched === 0")
    expect(page.locator("[data-empty]")).to_have_text(
        f"No message matches “nothing-like-this-{suffix}”."
    )
    expect(page.locator("table.messages")).to_be_hidden()
    took = page.evaluate(
        """async (arn) => {
          const t = performance.now();
          await fetch(`/api/queues/${arn}/inspect?limit=50&q=order`);
          return performance.now() - t;
        }""",
        queue["arn"],
    )
    print(f"sent {total} messages in {sent_in:.1f} s; page {height}px tall; a search {took:.0f} ms")
    flow.assert_clean()


def test_counts_stay_live_and_an_empty_queue_says_so(flow: Flow, suffix: str) -> None:
    page = flow.page
    source = flow.api(
        "POST", "/api/queues",
        {"name": f"live-shipping-notifications-{suffix}",
         "new_dead_letter_queue": f"live-shipping-notifications-{suffix}-dlq",
         "max_receive_count": 1, "visibility_timeout": 0},
    )  # fmt: skip
    dlq = flow.api("GET", f"/api/queues/{source['dead_letter_arn']}")

    queue_page(page, flow, dlq["arn"])
    expect(page.locator("[data-empty]")).to_have_text(re.compile(r"^This queue is empty\."))
    expect(page.locator("h1 .kind-label")).to_have_text("Dead-letter queue")

    # Three messages fail their way to the DLQ: the open page counts them without a reload.
    send_many(flow, source["url"], 3)
    for _ in range(4):
        flow.api("POST", f"/api/queues/{source['arn']}/receive", {"visibility_timeout": 0})
    wait_inspector(page, "i.total === 3")
    expect(page.locator('[data-count="visible"]')).to_have_text("3")
    expect(page.locator("table.messages tbody tr")).to_have_count(3)

    # Redrive: the counts follow at once.
    page.get_by_role("button", name="Redrive").click()
    expect(page.locator("[data-progress]")).to_have_text("3 moved, 0 left")
    expect(page.locator('[data-count="visible"]')).to_have_text("0")
    expect(page.locator("[data-empty]")).to_be_visible()

    # The queue list beside the create form (where "shipping" became "shippin g"): names
    # wrap only after a hyphen.
    page.goto(f"{flow.server.base}/queues/")
    for name in (source["name"], dlq["name"]):
        link = page.locator(f'.queue-table td:first-child a[title="{name}"]')
        assert set(link.evaluate(LINE_ENDS)) <= {"-"}, f"{name} breaks inside a word"
    flow.assert_clean()


def test_settings_edit_each_and_refuse_bad_values(flow: Flow, suffix: str) -> None:
    page = flow.page
    queue = flow.api(
        "POST", "/api/queues",
        {"name": f"tune-{suffix}", "new_dead_letter_queue": f"tune-{suffix}-dlq",
         "max_receive_count": 3, "visibility_timeout": 30},
    )  # fmt: skip
    queue_page(page, flow, queue["arn"])
    form = page.locator("#settings-form")
    save = form.get_by_role("button", name="Save settings")

    def settings() -> dict[str, Any]:
        got = flow.api("GET", f"/api/queues/{queue['arn']}")
        a = got["attributes"]
        return {
            "visibility_timeout": a["VisibilityTimeout"], "delay_seconds": a["DelaySeconds"],
            "retention_seconds": a["MessageRetentionPeriod"],
            "max_receive_count": got["max_receive_count"],
        }  # fmt: skip

    for label, name, value, saved, expected in (
        ("Visibility timeout", "visibility_timeout", "45", "visibility timeout", "45"),
        ("Delay", "delay_seconds", "900", "delay", "900"),
        ("Retention", "retention_seconds", "60", "retention period", "60"),
        ("maxReceiveCount", "max_receive_count", "7", "maxReceiveCount", 7),
    ):
        form.get_by_label(label).fill(value)
        save.click()
        expect(form.locator(".form-ok")).to_have_text(f"Saved: {saved}.")
        assert settings()[name] == expected
    expect(page.locator("[data-max-receive]")).to_have_text("after 7 receives")
    page.locator(".all-attributes summary").click()
    expect(page.locator("[data-attributes]")).to_contain_text("MessageRetentionPeriod60")

    # A bad value: its field says what is wrong, and the good change beside it is not made.
    before = settings()
    for label, name, value, message in (
        ("Visibility timeout", "visibility_timeout", "50000",
         "The visibility timeout (seconds) must be between 0 and 43200; got 50000."),
        ("Delay", "delay_seconds", "901",
         "The delay (seconds) must be between 0 and 900; got 901."),
        ("Retention", "retention_seconds", "59",
         "The retention period (seconds) must be between 60 and 1209600; got 59."),
        ("maxReceiveCount", "max_receive_count", "0",
         "maxReceiveCount must be between 1 and 1000; got 0."),
    ):  # fmt: skip
        flow.expect_console_error(ATTRIBUTE_ERROR.pattern)
        page.reload()
        page.wait_for_function("window.flowdashInspector && window.flowdashInspector.loads > 0")
        other = "Delay" if name != "delay_seconds" else "Visibility timeout"
        form.get_by_label(other).fill("5")
        form.get_by_label(label).fill(value)
        save.click()
        error = form.locator(f'[data-field="{name}"] .field-error')
        expect(error).to_have_text(message)
        expect(form.locator(f'[data-field="{name}"]')).to_have_class(re.compile(r"\binvalid\b"))
        expect(form.get_by_label(label)).to_be_focused()
        assert settings() == before, f"a bad {name} changed something"

    # An empty field is caught in the page.
    page.reload()
    page.wait_for_function("window.flowdashInspector && window.flowdashInspector.loads > 0")
    form.get_by_label("Delay").fill("")
    save.click()
    expect(form.locator('[data-field="delay_seconds"] .field-error')).to_have_text(
        "Enter the delay as a whole number."
    )
    flow.assert_clean()


def test_queue_page_on_a_phone(phone: Flow, suffix: str) -> None:
    page = phone.page
    long_name = f"shipping-notifications-{suffix}"
    queue = phone.api(
        "POST", "/api/queues", {"name": long_name, "new_dead_letter_queue": f"{long_name}-dlq"}
    )
    send_many(phone, queue["url"], 120)
    phone.api("POST", f"/api/queues/{queue['arn']}/receive", {"max_messages": 2})
    queue_page(page, phone, queue["arn"])
    wait_inspector(page, "i.total === 120")
    expect(page.locator("table.messages tbody tr")).to_have_count(20)  # a shorter page on a phone
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the queue page scrolls sideways ({width}px)"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "queue-page-390.png"))
    page.screenshot(path=str(ARTIFACTS / "queue-page-390-full.png"), full_page=True)
    page.evaluate("document.querySelector('section.inspector').scrollIntoView()")
    page.screenshot(path=str(ARTIFACTS / "queue-page-390-messages.png"))

    # The queue list: names wrap only after a hyphen, never inside a word ("shippin g").
    page.goto(f"{phone.server.base}/queues/")
    for name in (long_name, f"{long_name}-dlq"):
        link = page.get_by_role("link", name=name, exact=True)
        assert link.get_attribute("title") == name
        assert set(link.evaluate(LINE_ENDS)) <= {"-"}, f"{name} breaks inside a word"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the queue list scrolls sideways ({width}px)"
    page.screenshot(path=str(ARTIFACTS / "queue-list-390.png"), full_page=True)
    phone.assert_clean()


def test_a_copy_from_a_topic_links_to_its_publication(flow: Flow, suffix: str) -> None:
    page = flow.page
    topic = flow.api("POST", "/api/topics", {"name": f"news-{suffix}"})
    queue = flow.api("POST", "/api/queues", {"name": f"reader-{suffix}"})
    flow.api(
        "POST", "/api/subscriptions",
        {"topic_arn": topic["arn"], "protocol": "sqs", "endpoint": queue["arn"]},
    )  # fmt: skip
    published = flow.api("POST", f"/api/topics/{topic['arn']}/publish", {"body": "extra!"})
    queue_page(page, flow, queue["arn"])
    wait_inspector(page, "i.count === 1")
    row = page.locator("table.messages tbody tr")
    # The SQS copy has an id of its own; its journey is the publication's.
    assert row.get_attribute("data-message-id") != published["message_id"]
    link = row.locator("a.trace-link")
    expect(link).to_have_attribute("href", f"/traces/{published['message_id']}/")
    expect(row.locator(".via")).to_have_text(f"via {topic['name']}")
    expect(row.locator("td.body")).to_have_text("extra!")
    flow.assert_clean()
