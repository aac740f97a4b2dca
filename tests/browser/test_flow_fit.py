"""The flow diagram fits its screen: on a phone (390x844) every card is in view at a
readable size with no sideways scrolling, and on a projector (1280x720) and a large screen
(1920x1080) the whole diagram fits its box. Screenshots of each go to test-artifacts/
(flow-fit-390.png, flow-fit-1280.png, flow-fit-1920.png), to be looked at."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from .conftest import ARTIFACTS, Flow, Server, flow_page

#: Every card and edge label of the diagram, the diagram's box, the page's widths, the zoom.
GEOMETRY = """() => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const diagram = document.querySelector('.flow-page .diagram');
  return {
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    innerWidth: window.innerWidth,
    zoom: parseFloat(getComputedStyle(diagram).getPropertyValue('--zoom')),
    diagram: box(diagram),
    cards: [...diagram.querySelectorAll('.node')].map((n) => ({name: n.dataset.name, ...box(n)})),
    labels: [...diagram.querySelectorAll('.edge-label')]
      .filter((l) => getComputedStyle(l).display !== 'none')
      .map((l) => ({text: l.textContent, ...box(l)})),
  };
}"""

VIEWPORTS = {
    "390": {"width": 390, "height": 844},
    "1280": {"width": 1280, "height": 720},
    "1920": {"width": 1920, "height": 1080},
}


@pytest.fixture(params=list(VIEWPORTS))
def screen(request: pytest.FixtureRequest, browser: Browser, fresh_moto: Server) -> Iterator[Flow]:
    yield from flow_page(browser, fresh_moto, VIEWPORTS[request.param])


def build(flow: Flow, suffix: str) -> list[str]:
    """A lecture's fanout: a topic, three queues (one filtered, one with a DLQ), two
    workers on billing: eight cards and their edges. Returns the card names."""
    topic = flow.api("POST", "/api/topics", {"name": f"orders-{suffix}"})
    names = [topic["name"]]
    for queue_name in ("analytics", "billing", "shipping"):
        body: dict[str, Any] = {"name": f"{queue_name}-{suffix}"}
        if queue_name == "billing":
            body["new_dead_letter_queue"] = f"{queue_name}-{suffix}-dlq"
        queue = flow.api("POST", "/api/queues", body)
        names.append(queue["name"])
        if queue_name == "billing":
            names.append(f"{queue_name}-{suffix}-dlq")
            flow.api("PUT", f"/api/queues/{queue['arn']}/workers", {"count": 2})
            names += [f"{queue['name']}#1", f"{queue['name']}#2"]
        flow.api(
            "POST", "/api/subscriptions",
            {"topic_arn": topic["arn"], "protocol": "sqs", "endpoint": queue["arn"],
             **({"filter_policy": {"size": ["big"]}} if queue_name == "shipping" else {})},
        )  # fmt: skip
    for name in names:
        expect(flow.page.locator(f'.diagram .node[data-name="{name}"]')).to_be_visible()
    flow.page.wait_for_timeout(400)  # a resync re-fits; let the last one land
    return names


def inside(inner: dict[str, float], outer: dict[str, float], slack: float = 0.5) -> bool:
    return (
        inner["left"] >= outer["left"] - slack
        and inner["right"] <= outer["right"] + slack
        and inner["top"] >= outer["top"] - slack
        and inner["bottom"] <= outer["bottom"] + slack
    )


def test_the_diagram_fits_the_screen(screen: Flow, suffix: str) -> None:
    page = screen.page
    names = build(screen, suffix)
    width = page.viewport_size["width"] if page.viewport_size else 0
    try:
        # Workers finish starting (their cards are rebuilt once) before measuring.
        for worker in (n for n in names if "#" in n):
            expect(page.locator(f'.node-worker[data-name="{worker}"] .worker-state')).to_have_text(
                "idle"
            )
        geometry = page.evaluate(GEOMETRY)
        assert geometry["scrollWidth"] <= geometry["clientWidth"], "the page scrolls sideways"
        diagram = geometry["diagram"]
        viewport = {"left": 0, "right": geometry["innerWidth"], "top": -1e9, "bottom": 1e9}
        assert inside(diagram, viewport), f"the diagram is wider than the screen: {diagram}"
        assert sorted(c["name"] for c in geometry["cards"]) == sorted(names)
        for card in geometry["cards"] + geometry["labels"]:
            assert inside(card, diagram), f"cut off by the diagram's edge: {card} not in {diagram}"
        if width == 390:
            # Readable on the phone: cards at (nearly) full size, one under the other.
            assert geometry["zoom"] >= 0.9, f"zoomed out to {geometry['zoom']} to fit"
            tops = sorted(c["top"] for c in geometry["cards"])
            bottoms = sorted(c["bottom"] for c in geometry["cards"])
            assert all(b <= t + 0.5 for b, t in zip(bottoms, tops[1:], strict=False)), (
                "cards overlap"
            )
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / f"flow-fit-{width}.png"), full_page=width == 390)
    screen.assert_clean()
