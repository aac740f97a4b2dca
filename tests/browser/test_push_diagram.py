"""Mobile push on the flow page: topic → platform application → devices, a dot per
delivery, a card per device with what it received, a switched-off device drawn as such."""

from __future__ import annotations

import json
from urllib.parse import quote

from .conftest import ARTIFACTS, Flow
from .test_queue_page import XSS_BODY, watched

GCM = json.dumps({"notification": {"title": "Sale", "body": XSS_BODY}})


def course_setup(flow: Flow, suffix: str) -> tuple[str, str, list[str]]:
    topic = flow.api("POST", "/api/topics", {"name": f"offers-{suffix}"})["arn"]
    app = flow.api("POST", "/api/push/applications", {"name": f"shop-{suffix}"})["arn"]
    devices = [
        flow.api("POST", "/api/push/endpoints",
                 {"application_arn": app, "token": f"tok-{i}", "custom_user_data": name})["arn"]
        for i, name in enumerate(("Ada", "Ben", "Cy"))
    ]  # fmt: skip
    for device in devices:
        flow.api("POST", "/api/subscriptions",
                 {"topic_arn": topic, "protocol": "application", "endpoint": device})  # fmt: skip
    flow.api("PATCH", f"/api/push/endpoints/{devices[2]}", {"enabled": False})
    return topic, app, devices


def shows_push(flow: Flow, suffix: str, devices: list[str]) -> None:
    page = flow.page
    page.wait_for_function(
        "() => document.querySelectorAll('.node-device').length === 3 "
        "&& document.querySelector('.node-device-off')"
    )
    app = page.locator(f'.node-application[data-name="shop-{suffix}"]')
    assert app.locator(".kind").text_content() == "GCM app"
    assert page.locator(".node-device-off").get_attribute("data-name") == "Cy"
    assert page.locator('.node-device[data-name="Ada"] .pill-off').count() == 0
    assert "2/3 devices on" in app.inner_text()


def test_a_topic_fans_out_through_its_application_to_each_device(flow: Flow, suffix: str) -> None:
    topic, _, devices = course_setup(flow, suffix)
    watched(flow, topic)
    shows_push(flow, suffix, devices)
    page = flow.page
    # Dots: count those that reach a device while the publication plays.
    page.evaluate(
        """() => { window.pushDots = new Set();
        new MutationObserver((ms) => ms.forEach((m) => m.addedNodes.forEach((n) => {
          if (n.classList?.contains('dot')) window.pushDots.add(n); }))
        ).observe(document.querySelector('.diagram'), { childList: true, subtree: true }); }"""
    )
    flow.api("POST", "/api/push/publish",
             {"topic_arn": topic, "message": {"default": "Sale", "GCM": GCM}})  # fmt: skip
    for name in ("Ada", "Ben"):
        flow.wait_stat_at_least("device", name, "received", 1)
    assert page.locator(flow.stat("device", "Cy", "received")).inner_text() == "0"
    assert page.evaluate("window.pushDots.size") == 2  # one per enabled device
    cards = page.locator(".outbox .a2p-push")
    page.wait_for_function("document.querySelectorAll('.outbox .a2p-push').length === 2")
    assert sorted(cards.nth(i).get_attribute("data-endpoint") for i in range(2)) == sorted(
        devices[:2]
    )
    assert {cards.nth(i).locator(".a2p-body").inner_text() for i in range(2)} == {GCM}  # text
    assert page.locator(".outbox img").count() == 0 and flow.dialogs == []
    # The same device's next notification replaces its card: one card per device.
    flow.api("POST", "/api/push/send", {"endpoint_arn": devices[0], "body": "just Ada"})
    flow.api("POST", "/api/push/publish",
             {"topic_arn": topic, "message": {"default": "Second"}})  # fmt: skip
    flow.wait_stat_at_least("device", "Ada", "received", 2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.outbox .a2p-push .a2p-body')]"
        ".filter((b) => b.textContent === 'Second').length === 2"
    )
    assert page.locator(".outbox .a2p-push").count() == 2
    pushed = flow.stat("application", f"shop-{suffix}", "received")
    assert page.locator(pushed).inner_text() == "4"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "push-diagram-1280.png"))
    # Switched on again, the diagram redraws the device as on.
    flow.api("PATCH", f"/api/push/endpoints/{quote(devices[2], safe=':/')}", {"enabled": True})
    page.wait_for_function("() => !document.querySelector('.node-device-off')")


def test_the_phone_layout_shows_the_devices_too(phone: Flow, suffix: str) -> None:
    _, _, devices = course_setup(phone, suffix)
    shows_push(phone, suffix, devices)
    ARTIFACTS.mkdir(exist_ok=True)
    phone.page.screenshot(path=str(ARTIFACTS / "push-diagram-390.png"), full_page=True)
