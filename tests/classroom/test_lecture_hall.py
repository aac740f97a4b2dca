"""Ready for the lecture hall, in Chromium against a real ``manage.py serve``:

- counters last: the presenter's numbers come from the server, so a reload and a second
  presenter window show the same totals (not "0 since now"), and each queue's total
  agrees with its workers';
- a student who publishes appears on the diagram as a producer of the topic;
- projector mode at 1920x1080 with 12 nodes: no visible text under 18 px outside the
  diagram, none under 14 px on screen inside it (font size times the diagram's zoom), and a
  QR of at least 360 px. Screenshots go to test-artifacts/ (presenter-1920.png,
  phone-390.png).

Any console error on a watched page fails the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page

from tests.live import LiveServer

from .browsing import Console, flag, in_chromium, instructor_context

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

#: Every visible text element: its font size, and whether it is inside the diagram.
TEXT_SIZES = """() => {
  const layer = document.querySelector('.diagram .layer');
  const diagram = document.querySelector('.diagram');
  const zoom = parseFloat(getComputedStyle(diagram).getPropertyValue('--zoom'));
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!['SCRIPT', 'STYLE'].includes(el.tagName)
        && [...el.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim())) {
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (r.width <= 1 || r.height <= 1) continue;
      if (style.visibility === 'hidden' || style.opacity === '0') continue;
      if (r.right < 0 || r.bottom < 0 || r.left > innerWidth || r.top > innerHeight) continue;
      const inside = layer.contains(el);
      const size = parseFloat(style.fontSize);
      out.push({text: el.textContent.trim().slice(0, 40), cls: el.className, inside,
                shown: inside ? size * zoom : size});
    }
  }
  return {zoom, out};
}"""


def test_lecture_hall(server: LiveServer) -> None:
    in_chromium(server, run)


#: The counters a node shows (depths are state, sampled, and may differ by a moment).
COUNTERS = ("published", "delivered", "processed", "failed")


def numbers(page: Page) -> dict[str, Any]:
    """What the presenter's diagram counts: per node name, its counters."""
    return page.evaluate(
        """(counters) => Object.fromEntries([...document.querySelectorAll('.diagram .node')]
          .map((n) => [n.dataset.name, Object.fromEntries([...n.querySelectorAll('[data-stat]')]
            .filter((s) => counters.includes(s.dataset.stat))
            .map((s) => [s.dataset.stat, s.querySelector('b').textContent]))]))""",
        list(COUNTERS),
    )


def run(browser: Browser, base: str) -> None:
    console = Console()
    instructor = instructor_context(browser, base, viewport={"width": 1600, "height": 1000})
    teacher = console.watch(instructor.new_page(), "presenter")

    # "Start and present" loads and plays the fanout scenario: 12 orders, three copies each.
    teacher.goto("/class/")
    teacher.fill("input[name=title]", "Lecture hall")
    teacher.select_option("select[name=scenario]", "fanout")
    teacher.click("button[name=start]")
    flag(teacher, "window.flowdashPresenter && window.flowdashPresenter.played >= 1")
    present_url = teacher.url
    assert teacher.locator(".diagram-empty").is_hidden()
    done = (
        "() => { const qs = [...document.querySelectorAll('.node-queue [data-stat=processed] b')];"
        " return qs.length === 3 && qs.every((b) => b.textContent === '12'); }"
    )
    flag(teacher, done)
    before = numbers(teacher)
    topic = next(v for k, v in before.items() if k.endswith("orders"))
    assert topic["published"] == "12"
    since = teacher.text_content("[data-testid=counts-since]")
    assert since and since.startswith("counts since ")

    # Queue totals agree with worker totals (one worker per queue in this scenario).
    workers = {k: v for k, v in before.items() if "#" in k}
    for queue in ("billing", "shipping", "analytics"):
        (worker,) = [v for k, v in workers.items() if k.split("#")[0].endswith(queue)]
        queue_stats = next(v for k, v in before.items() if k.endswith(f"-{queue}"))
        assert worker["processed"] == queue_stats["processed"] == "12", (queue, worker)

    # A reload and a second presenter window start from the server's counts, not 0.
    teacher.reload()
    flag(teacher, "window.flowdashPresenter.ready")
    flag(teacher, done)
    assert numbers(teacher) == before
    second = console.watch(instructor.new_page(), "second presenter")
    second.goto(present_url)
    flag(second, "window.flowdashPresenter && window.flowdashPresenter.ready")
    flag(second, done)
    assert numbers(second) == before
    assert second.text_content("[data-testid=counts-since]") == since
    second.close()

    # A student joins on a phone and publishes: a producer node appears with an edge.
    code = teacher.text_content("[data-testid=join-code]").strip()
    phone = browser.new_context(
        base_url=base, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    student = console.watch(phone.new_page(), "student")
    student.goto(f"/class/join/?code={code}")
    student.fill("input[name=display_name]", "Ada")
    student.click("button[name=join]")
    student.wait_for_url(f"{base}/class/me/")
    flag(student, "window.flowdashParticipant && window.flowdashParticipant.ready")
    student.fill("textarea[name=body]", "hello from Ada")
    student.click("button[name=publish]")
    flag(student, "window.flowdashParticipant.published === 1")
    flag(teacher, "document.querySelector('.node-producer[data-name=Ada]')")
    ARTIFACTS.mkdir(exist_ok=True)
    student.screenshot(path=str(ARTIFACTS / "phone-390.png"), full_page=False)
    teacher.screenshot(path=str(ARTIFACTS / "presenter-1600.png"))  # not projector mode

    # 12 nodes: the topic, Ada, 3 queues; billing's 5 workers grouped (2 + "+3 more"),
    # shipping's 3 shown, analytics's 1.
    for queue, count in (("billing", 5), ("shipping", 3)):
        for n in range(2, count + 1):
            teacher.click(f".worker-control[data-queue={queue}] button[name=more]")
            flag(
                teacher,
                f"document.querySelector('.worker-control[data-queue={queue}] b')"
                f"?.textContent === '{n}'",
            )

    projector = console.watch(
        browser.new_context(
            base_url=base, viewport={"width": 1920, "height": 1080},
            storage_state=instructor.storage_state(),
        ).new_page(),
        "projector",
    )  # fmt: skip
    projector.goto(present_url.split("?")[0] + "?projector=1")
    flag(projector, "window.flowdashPresenter && window.flowdashPresenter.ready")
    flag(projector, "document.querySelectorAll('.diagram .node').length === 12")
    flag(projector, "document.querySelector('.node-more')")
    flag(projector, "document.querySelector('.node-producer[data-name=Ada]')")
    projector.wait_for_timeout(600)  # the fit after the last reshape, and one redraw
    sizes = projector.evaluate(TEXT_SIZES)
    small = [
        t for t in sizes["out"]
        if t["shown"] < (14 if t["inside"] else 18) - 0.01
    ]  # fmt: skip
    assert not small, f"text too small at zoom {sizes['zoom']}: {small}"
    assert any(t["inside"] for t in sizes["out"])
    qr = projector.locator(".join-qr svg.qr").bounding_box()
    assert qr and qr["width"] >= 360 and qr["height"] >= 360
    projector.screenshot(path=str(ARTIFACTS / "presenter-1920.png"))

    assert console.errors == [], "\n".join(console.errors)
    assert teacher.evaluate("window.flowdashPresenter.errors") == []
