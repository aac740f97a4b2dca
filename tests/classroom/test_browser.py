"""The classroom end to end in Chromium: an instructor and a student, two browser
contexts, against a real ``manage.py serve`` (Daphne, embedded moto, the flow engine).

The instructor starts a class and loads the fanout scenario; the student joins with
the code from the screen, publishes, and the presenter view shows the publication
under the student's name; then the student works the billing queue from the phone
page and the diagram counts the message as processed by them. Any console error on
either page fails the test, and so does a missing Chromium (it is not skipped).
"""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import Browser

from tests.live import LiveServer

from .browsing import Console, flag, in_chromium, instructor_context


def test_instructor_and_student_share_a_class(server: LiveServer) -> None:
    in_chromium(server, run_class)


def run_class(browser: Browser, base: str) -> None:
    console = Console()
    instructor = instructor_context(browser, base)
    teacher = console.watch(instructor.new_page(), "presenter")

    # Start a class with the fanout scenario and present it.
    teacher.goto("/class/")
    teacher.fill("input[name=title]", "Messaging 101")
    teacher.select_option("select[name=scenario]", "fanout")
    teacher.click("button[name=start]")
    flag(teacher, "window.flowdashPresenter && window.flowdashPresenter.ready")
    code = teacher.text_content("[data-testid=join-code]").strip()
    join_url = teacher.text_content(".join-url code").strip()
    assert join_url == f"{base}/class/join/?code={code}"
    assert teacher.locator(".join-qr svg.qr path").count() == 1

    assert teacher.text_content("[data-testid=class-title]").strip() == "Messaging 101"

    # "Start and present" with a scenario loads it, and the page plays the pattern once
    # the diagram shows the resources (as its Load button does); a reload does not load again.
    flag(teacher, "window.flowdashPresenter.played >= 1")
    assert "start" not in teacher.url
    assert "billing" in teacher.text_content(".explanation")
    flag(teacher, "document.querySelectorAll('.node-queue').length === 3")
    # Hand the billing queue to the students: no simulated worker there any more.
    flag(
        teacher,
        "document.querySelector('.worker-control[data-queue=billing] b')?.textContent === '1'",
    )
    teacher.click(".worker-control[data-queue=billing] button[name=fewer]")
    flag(
        teacher,
        "document.querySelector('.worker-control[data-queue=billing] b')?.textContent === '0'",
    )
    paused_at = time.monotonic()

    # The student joins on a phone-sized screen with the code from the screen.
    phone = browser.new_context(
        base_url=base, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    student = console.watch(phone.new_page(), "student")
    student.goto("/class/join/")
    console.expect(404, "/class/join/")
    student.fill("input[name=code]", "no-such")
    student.fill("input[name=display_name]", "Ada")
    student.click("button[name=join]")
    assert "No class uses the code 'NO-SUCH'" in student.text_content("[data-testid=join-error]")
    student.fill("input[name=code]", code.lower())
    student.click("button[name=join]")
    student.wait_for_url(f"{base}/class/me/")
    flag(student, "window.flowdashParticipant && window.flowdashParticipant.ready")
    flag(teacher, "window.flowdashPresenter.joined === 1")
    assert teacher.text_content(".joined") == "1"

    # The stopped worker's last long poll (2 s) must be over before the student works.
    student.wait_for_timeout(max(0, 2500 - (time.monotonic() - paused_at) * 1000))

    # The student publishes; the presenter shows it with the student's name, as text.
    body = "<b>hello</b> from Ada"
    student.fill("textarea[name=body]", body)
    student.click("button[name=publish]")
    flag(student, "window.flowdashParticipant.published === 1")
    flag(teacher, "document.querySelector('.feed-list li[data-type=published][data-who=Ada]')")
    published = teacher.locator(".feed-list li[data-type=published][data-who=Ada]").first
    assert body in published.text_content() and published.locator("b").count() == 0
    trace = published.get_attribute("data-trace")
    flag(
        teacher,
        "(t) => document.querySelectorAll("
        "`.feed-list li[data-type=delivered][data-trace='${t}']`).length === 3",
        trace,
    )

    # The student works the billing queue: receive, then Done.
    student.select_option("select[name=queue]", label="billing")
    student.click("button[name=receive]")
    flag(student, "window.flowdashParticipant.holding !== null")
    assert student.text_content(".held-body")
    student.click("button[name=done]")
    flag(student, "window.flowdashParticipant.processed === 1")
    flag(teacher, "document.querySelector('.feed-list li[data-type=processed][data-worker=Ada]')")
    flag(
        teacher,
        "document.querySelector('.node-worker[data-name=Ada] [data-stat=processed] b')"
        "?.textContent === '1'",
    )

    # The instructor locks publishing, then removes the student.
    teacher.click("button[name=lock]")
    flag(teacher, "document.querySelector('button[name=lock]').ariaPressed === 'true'")
    console.expect(403, "/api/classroom/me/publish")
    # (The page may already have disabled the button after its poll: submit the form itself.)
    student.evaluate("document.querySelector('.publish-form').requestSubmit()")
    flag(
        student,
        "window.flowdashParticipant.lastError === 'The instructor has paused publishing for now.'",
    )
    console.expect(403, "/api/classroom/me")
    teacher.click(".people summary")
    teacher.click(".people-list li[data-name=Ada] button")
    flag(student, "window.flowdashParticipant.gone")
    assert "removed you" in student.text_content(".me-status")
    flag(teacher, "window.flowdashPresenter.joined === 0")

    assert httpx.get(f"{base}/api/classroom/sessions/{code}").status_code == 401
    assert console.errors == [], "\n".join(console.errors)
    assert teacher.evaluate("window.flowdashPresenter.errors") == []
