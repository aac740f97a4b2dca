"""axe-core (through axe-playwright-python) on every page Flowdash renders itself: no
serious or critical violation. Third-party pages are left out: /api/docs is django-ninja's
Swagger UI, /admin/ is Django's.

Each page is scanned once it has settled (the flow page with a topic's panel open and
events in the log, the queue page with its messages listed), so what axe sees is what a
student sees, not an empty shell.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from .conftest import ARTIFACTS, Flow

BLOCKING = {"serious", "critical"}
AXE = Axe()

#: Violations let through, each with where the fix belongs: (rule, element) -> why.
#: Only these exact elements would pass; anything else fails. None today.
KNOWN: dict[tuple[str, str], str] = {}


def violations(page: Page) -> list[str]:
    """The serious and critical violations on the page as it is, one line each, less the
    KNOWN ones."""
    response: dict[str, Any] = AXE.run(page).response
    lines = []
    for v in response["violations"]:
        if v["impact"] not in BLOCKING:
            continue
        targets = [", ".join(n["target"]) for n in v["nodes"]]
        targets = [t for t in targets if (v["id"], t) not in KNOWN]
        if targets:
            lines.append(f"{v['id']} ({v['impact']}): {v['help']} at " + "; ".join(targets[:6]))
    return lines


def scan(page: Page, found: dict[str, list[str]], name: str) -> None:
    page.wait_for_load_state("networkidle")
    found[name] = violations(page)


def arn_path(arn: str) -> str:
    return quote(arn, safe=":")


def test_every_page_passes_axe(flow: Flow, browser: Browser, suffix: str) -> None:
    page = flow.page
    found: dict[str, list[str]] = {}

    # Something on every page: a topic fanning out to a queue with a DLQ, a message.
    topic = flow.api("POST", "/api/topics", {"name": f"a11y-{suffix}"})
    queue = flow.api(
        "POST", "/api/queues",
        {"name": f"a11y-q-{suffix}", "new_dead_letter_queue": f"a11y-q-{suffix}-dlq"},
    )  # fmt: skip
    sub = flow.api(
        "POST", "/api/subscriptions",
        {"topic_arn": topic["arn"], "protocol": "sqs", "endpoint": queue["arn"]},
    )  # fmt: skip
    expect(page.locator(f'.edge-sub[data-to="{queue["name"]}"]')).to_be_visible()
    published = flow.api(
        "POST", f"/api/topics/{topic['arn']}/publish",
        {"body": '{"order": 1}',
         "attributes": [{"name": "size", "type": "String", "value": "big"}]},
    )  # fmt: skip
    flow.api("POST", f"/api/queues/{queue['arn']}/messages", {"body": "straight to the queue"})

    # The flow page, with the log filled and a topic's panel open.
    page.wait_for_selector(".log-list .ev-published")
    flow.click_node("topic", topic["name"])
    scan(page, found, "flow")
    page.locator(".panel button[name=close]").click()
    # A dot on the queue's card would take the click (it opens the message's journey).
    page.wait_for_function("document.querySelectorAll('.dot').length === 0")
    flow.click_node("queue", queue["name"])
    scan(page, found, "flow, queue panel")

    for name, path in (
        ("overview", "/overview/"),
        ("topics", "/topics/"),
        ("queues", "/queues/"),
        ("topic page", f"/topics/{arn_path(topic['arn'])}/"),
        ("subscription page", f"/subscriptions/{arn_path(sub['arn'])}/"),
        ("definitions", "/definitions/"),
        ("classroom", "/class/"),
    ):
        page.goto(f"{flow.server.base}{path}")
        scan(page, found, name)

    page.goto(f"{flow.server.base}/queues/{arn_path(queue['arn'])}/")
    page.wait_for_function("window.flowdashInspector && window.flowdashInspector.count === 2")
    scan(page, found, "queue page")

    for _ in range(50):  # the engine stores events in batches
        if page.request.get(f"{flow.server.base}/api/traces/{published['message_id']}").ok:
            break
        page.wait_for_timeout(200)
    page.goto(f"{flow.server.base}/traces/{published['message_id']}/")
    scan(page, found, "trace page")

    # A class: the presenter's screen, then a student's phone (no account).
    page.goto(f"{flow.server.base}/class/")
    page.click("button[name=start]")
    page.wait_for_url("**/class/present/**")
    code = page.locator("[data-testid=join-code]").inner_text().strip()
    page.wait_for_timeout(500)
    scan(page, found, "classroom presenter")

    student = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        phone = student.new_page()
        phone.goto(f"{flow.server.base}/class/join/?code={code}")
        scan(phone, found, "join a class")
        phone.fill("input[name=display_name]", "Ada")
        phone.click("button[name=join]")
        phone.wait_for_url("**/class/me/")
        scan(phone, found, "student's phone")
        phone.context.clear_cookies()
        phone.goto(f"{flow.server.base}/login/")
        scan(phone, found, "login")
    finally:
        student.close()

    failing = {name: lines for name, lines in found.items() if lines}
    assert not failing, "axe found serious or critical violations:\n" + "\n".join(
        f"{name}:\n  " + "\n  ".join(lines) for name, lines in failing.items()
    )
    flow.assert_clean()


def _luminance(css: str) -> float:
    """WCAG relative luminance of an #rrggbb colour."""
    channels = [int(css.strip().lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_legend_tells_states_by_shape_and_colour(flow: Flow) -> None:
    page = flow.page
    legend = page.locator(".legend li:not(.since)")
    expect(legend).to_have_text(
        ["message", "received", "processed", "failed", "filtered", "dead-lettered"]
    )
    glyphs = page.evaluate(
        """() => [...document.querySelectorAll('.legend .dot-sample')].map((s) => {
          const after = getComputedStyle(s, '::after').content;
          return [s.className, after === 'none' || after === 'normal' ? '' : after,
                  getComputedStyle(s).boxShadow];
        })"""
    )
    shapes = {
        cls.replace("dot-sample", "").strip() or "message": (g, shadow) for cls, g, shadow in glyphs
    }
    assert shapes["message"][0] == "" and "inset" in shapes["received"][1]  # a dot, a ring
    ends = [shapes[k][0] for k in ("done", "failed", "filtered", "dead")]
    assert all(ends) and len(set(ends)) == 4, f"each end state needs its own glyph: {ends}"

    # Graphics contrast (WCAG 1.4.11, 3:1): against the diagram, and the white glyph inside.
    colours = page.evaluate(
        """() => Object.fromEntries(['--dot', '--dot-received', '--dot-done', '--dot-failed',
          '--dot-filtered', '--dot-dead'].map((v) =>
          [v, getComputedStyle(document.documentElement).getPropertyValue(v).trim()]))"""
    )
    for name, colour in colours.items():
        for against in ("#fbfcfe", "#ffffff"):
            assert _contrast(colour, against) >= 3, f"{name} {colour} on {against}"
    # Red-green colour-blind viewers tell processed from failed by lightness too (was 1.15).
    assert _contrast(colours["--dot-done"], colours["--dot-failed"]) >= 2
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".legend").screenshot(path=str(ARTIFACTS / "flow-legend.png"))
    flow.assert_clean()


def test_reduced_motion_pauses_by_default_and_the_choice_is_kept(flow: Flow, suffix: str) -> None:
    page = flow.page
    button = page.locator("button[name=motion]")
    expect(button).to_have_text("Pause motion")  # no preference: moving dots

    page.emulate_media(reduced_motion="reduce")
    flow.open()
    expect(button).to_have_text("Resume motion")
    expect(button).to_have_attribute("aria-pressed", "true")

    # Resumed under reduced motion: dots appear, but never travel.
    button.click()
    expect(button).to_have_text("Pause motion")
    flow.open()
    expect(button).to_have_text("Pause motion")  # the choice outlives the page
    queue = flow.api("POST", "/api/queues", {"name": f"calm-{suffix}"})
    expect(page.locator(f'.node-queue[data-name="{queue["name"]}"]')).to_be_visible()
    flow.api("POST", f"/api/queues/{queue['arn']}/messages", {"body": "quietly"})
    transition = page.wait_for_function(
        """() => { const d = document.querySelector('.dot');
                   return d && getComputedStyle(d).transitionProperty; }"""
    ).json_value()
    assert "transform" not in transition, transition
    assert page.evaluate(
        "getComputedStyle(document.querySelector('.conn .lamp')).animationName"
    ) in ("none", "")

    button.click()
    flow.open()
    expect(button).to_have_text("Resume motion")
    flow.assert_clean()


def test_skip_link_goes_to_the_content(flow: Flow) -> None:
    page = flow.page
    page.goto(f"{flow.server.base}/queues/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#content")).to_be_focused()
    flow.assert_clean()
