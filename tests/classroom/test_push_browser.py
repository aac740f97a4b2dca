"""Mobile push step by step in Chromium: one instructor and three phones (390x844)
against a real ``manage.py serve`` (Daphne, embedded moto, the flow engine).

Each phone joins, registers its own token as a device and is subscribed to the class
topic; the instructor publishes once and every phone shows the notification within
1 s; one phone switches itself off and gets nothing from the next publication; the
presenter's per-platform counts agree with what the phones got. Any console error
fails the test.
"""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from tests.live import ROOT, LiveServer

from .browsing import Console, flag, in_chromium, instructor_context

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
ARTIFACTS = ROOT / "test-artifacts"
#: The done-when bound: every phone shows the notification within this of the publish.
WITHIN_MS = 1000


def test_three_phones_are_the_devices(server: LiveServer) -> None:
    in_chromium(server, run)


def publish(teacher: Page, text: str) -> int:
    """Publish from the presenter's form; returns the page clock just before the click."""
    teacher.fill("input[name=body]", text)
    started: int = teacher.evaluate("Date.now()")
    teacher.click("button[name=push-publish]")
    return started


def run(browser: Browser, base: str) -> None:
    console = Console()
    instructor = instructor_context(browser, base, viewport={"width": 1280, "height": 720})
    teacher = console.watch(instructor.new_page(), "presenter")
    teacher.goto("/class/")
    teacher.select_option("select[name=scenario]", "push")
    teacher.click("button[name=start]")
    flag(teacher, "window.flowdashPresenter && window.flowdashPresenter.ready")
    flag(teacher, "window.flowdashPresenter.push && window.flowdashPresenter.push.available")
    flag(teacher, "window.flowdashPresenter.push.steps[4]")  # the class topic exists
    code = teacher.text_content("[data-testid=join-code]").strip()

    phones: dict[str, Page] = {}
    for name, agent in (("Ada", None), ("Ben", None), ("Cy", IPHONE)):
        context = browser.new_context(
            base_url=base, viewport={"width": 390, "height": 844}, is_mobile=True,
            permissions=["notifications"], **({"user_agent": agent} if agent else {}),
        )  # fmt: skip
        page = console.watch(context.new_page(), name)
        page.goto(f"/class/join/?code={code}")
        page.fill("input[name=display_name]", name)
        page.click("button[name=join]")
        page.wait_for_url(f"{base}/class/me/")
        flag(page, "window.flowdashParticipant && window.flowdashParticipant.connected")
        flag(page, "window.flowdashParticipant.device && window.flowdashParticipant.device.enabled")
        phones[name] = page
    assert phones["Cy"].evaluate("window.flowdashParticipant.device.platform") == "APNS"
    assert phones["Ada"].evaluate("window.flowdashParticipant.device.platform") == "GCM"

    # Three endpoints registered and subscribed: the presenter's steps say so.
    flag(
        teacher,
        "window.flowdashPresenter.push.devices === 3 && window.flowdashPresenter.push.on === 3",
    )
    flag(teacher, "window.flowdashPresenter.push.steps.slice(0, 6).every(Boolean)")
    flag(teacher, "document.querySelectorAll('.node-device').length === 3")

    # One publication: every phone shows it within 1 s.
    started = publish(teacher, "Quiz in 5 minutes <b>bring</b> a pen")
    for page in phones.values():
        flag(page, "window.flowdashParticipant.notifications === 1")
    shown = {
        n: p.evaluate("window.flowdashParticipant.notificationTimes[0]") for n, p in phones.items()
    }
    delays = {n: t - started for n, t in shown.items()}
    assert max(delays.values()) <= WITHIN_MS, f"notification delays (ms): {delays}"
    for page in phones.values():
        banner = page.locator("[data-testid=push-banner]")
        assert banner.is_visible()
        assert banner.locator(".push-title").text_content() == "Flowdash"
        assert banner.locator(".push-text").text_content() == "Quiz in 5 minutes <b>bring</b> a pen"
        assert banner.locator("b").count() == 0  # text, not markup
    flag(
        teacher,
        "window.flowdashPresenter.push.counts.GCM === 2 "
        "&& window.flowdashPresenter.push.counts.APNS === 1",
    )
    ARTIFACTS.mkdir(exist_ok=True)
    phones["Ada"].screenshot(path=str(ARTIFACTS / "push-phone-390.png"))

    # Cy switches the phone off: the next publication reaches the two others only.
    phones["Cy"].click("button[name=device-off]")
    flag(phones["Cy"], "window.flowdashParticipant.device.enabled === false")
    flag(teacher, "window.flowdashPresenter.push.on === 2")
    publish(teacher, "Second notice")
    for name in ("Ada", "Ben"):
        flag(phones[name], "window.flowdashParticipant.notifications === 2")
    teacher.wait_for_timeout(1500)
    assert phones["Cy"].evaluate("window.flowdashParticipant.notifications") == 1
    flag(teacher, "window.flowdashPresenter.push.counts.GCM === 4")
    assert teacher.evaluate("window.flowdashPresenter.push.counts") == {"GCM": 4, "APNS": 1}
    assert teacher.evaluate("window.flowdashPresenter.push.steps").count(True) == 8
    counts = teacher.locator("[data-testid=push-counts]")
    assert counts.locator("[data-platform=GCM] b").text_content() == "4"
    assert counts.locator("[data-platform=APNS] b").text_content() == "1"
    flag(teacher, "document.querySelectorAll('.node-device-off').length === 1")
    teacher.screenshot(path=str(ARTIFACTS / "push-presenter-1280.png"))
    phones["Cy"].screenshot(path=str(ARTIFACTS / "push-phone-off-390.png"))

    # Switched on again, Cy gets the next one.
    phones["Cy"].click("button[name=device-on]")
    flag(teacher, "window.flowdashPresenter.push.on === 3")
    publish(teacher, "Third")
    flag(phones["Cy"], "window.flowdashParticipant.notifications === 2")
    assert console.errors == [], console.errors
