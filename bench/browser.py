"""Benchmark 6, the browser: frames per second of the flow page during a burst.

Headless Chromium (Debian's, driven by Playwright) logs in through the form and
opens ``/``, the live diagram (templates/dashboard/flow.html). A counter put in
before the page's own scripts records every ``requestAnimationFrame`` callback;
the page's rendering, animations and socket handling all happen between them,
so the rate at which they come is the rate at which the page can paint.

Measured in the same run: the page at rest (the baseline, with the topology
drawn and the socket live), then during a 1,000-message burst at the maximum
rate (``POST /api/topics/<arn>/burst``, a topic with three subscribed queues and
one 0 ms worker each), until the burst is over and the page holds the engine's
final sequence number. Printed: fps, the longest gap between two frames (a
visible stall), the 95th-percentile frame time, the dots on screen at most
(``window.flowdash.dots``, the page's test flag), and console errors. Target:
at least 30 fps during the burst.

Headless Chromium renders in software (no GPU) on this 2-core machine, which is
also running the server: a pessimistic stand-in for a student's laptop.

    .venv/bin/python bench/browser.py [--quick] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    PASSWORD,
    USERNAME,
    FlowdashServer,
    Table,
    api_topology,
    burst_finished,
    emit,
    engine_sees,
    flowdash_server,
    progress,
    quiet_seq,
    workers_set,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FPS_TARGET = 30.0
FANOUT = 3

#: Runs before the page's scripts: every animation frame's time, kept in a global
#: the benchmark reads and resets (the page itself never sees it).
RAF_COUNTER = """
window.__benchFrames = [];
(function tick(now) {
  window.__benchFrames.push(now);
  requestAnimationFrame(tick);
})(performance.now());
"""


@dataclass(frozen=True, slots=True)
class Window:
    """The animation frames of one stretch of time."""

    label: str
    seconds: float
    times_ms: list[float]
    dots_max: int

    @property
    def fps(self) -> float:
        return max(0, len(self.times_ms) - 1) / self.seconds

    @property
    def intervals(self) -> list[float]:
        return [b - a for a, b in zip(self.times_ms, self.times_ms[1:], strict=False)]

    @property
    def longest_gap_ms(self) -> float:
        return max(self.intervals, default=self.seconds * 1000)

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.intervals)
        return ordered[int(len(ordered) * 0.95)] if ordered else float("nan")


def frames_since(page: Any) -> list[float]:
    times: list[float] = page.evaluate(
        "() => { const t = window.__benchFrames; window.__benchFrames = []; return t; }"
    )
    return times


def flags(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = (
        page.evaluate(
            "() => window.flowdash ? {ready: window.flowdash.ready, dots: window.flowdash.dots,"
            " lastSeq: window.flowdash.lastSeq, state: window.flowdash.state} : null"
        )
        or {}
    )
    return result


def measure(server: FlowdashServer, *, rest_s: float) -> tuple[list[Window], dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    topic, queues = api_topology(server, name="lecture", fanout=FANOUT)
    asyncio.run(engine_sees(server, [topic, *(q["arn"] for q in queues)]))
    for queue in queues:
        workers_set(server, queue["arn"], count=1, min_ms=0, max_ms=0)
    info: dict[str, Any] = {"console_errors": [], "diagram_page": False}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on(
            "console",
            lambda m: info["console_errors"].append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: info["console_errors"].append(str(e)))
        page.on(
            "response",
            lambda r: (
                info["console_errors"].append(f"HTTP {r.status} {r.url}")
                if r.status >= 400
                else None
            ),
        )
        page.add_init_script(RAF_COUNTER)
        page.goto(f"{server.base_url}/login/")
        page.fill("input[name=username]", USERNAME)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_url(f"{server.base_url}/")
        # The login page's own requests (its /favicon.ico 404, say) are not the flow page's.
        info["login_errors"] = info["console_errors"][:]
        info["console_errors"].clear()
        info["diagram_page"] = page.evaluate("() => Boolean(window.flowdash)")
        if info["diagram_page"]:
            page.wait_for_function("() => window.flowdash.ready === true", timeout=30_000)
        page.wait_for_timeout(1500)  # layout settles
        frames_since(page)
        started = time.monotonic()
        page.wait_for_timeout(rest_s * 1000)
        rest = Window("at rest", time.monotonic() - started, frames_since(page), 0)

        batches = 100 + server.aws_requests().get("sns.PublishBatch", 0)
        with server.api() as api:
            api.post(
                f"/api/topics/{topic}/burst",
                json={"count": 1000, "rate": 1000, "body_template": "lecture {{n}}"},
            ).raise_for_status()
        started = time.monotonic()
        times: list[float] = []
        dots = 0
        deadline = started + 120
        while not burst_finished(server, queues, batches) and time.monotonic() < deadline:
            page.wait_for_timeout(250)
            dots = max(dots, int(flags(page).get("dots") or 0))
        # Playwright's sync API owns this thread's event loop: ask from another thread.
        with ThreadPoolExecutor(1) as pool:
            final = pool.submit(asyncio.run, quiet_seq(server)).result()
        while time.monotonic() < deadline:
            state = flags(page)
            dots = max(dots, int(state.get("dots") or 0))
            if not info["diagram_page"] or (state.get("lastSeq") or 0) >= final:
                break
            page.wait_for_timeout(250)
        times = frames_since(page)
        burst = Window("during the burst", time.monotonic() - started, times, dots)
        info["final_seq"] = final
        info["page_seq"] = flags(page).get("lastSeq")
        info["states"] = page.evaluate("() => window.flowdash ? window.flowdash.states : []")
        browser.close()
    return [rest, burst], info


def table(windows: list[Window], info: dict[str, Any], *, rest_s: float) -> Table:
    out = Table(
        title="6. Browser: the flow page (/) in headless Chromium during a 1,000-message burst",
        columns=[
            "window", "seconds", "fps", "p95 frame ms", "longest frame gap ms", "dots at most",
            "target", "met?",
        ],
    )  # fmt: skip
    for w in windows:
        target, verdict = "", ""
        if w.label == "during the burst":
            target = "≥ 30 fps"
            verdict = out.target(f"{w.fps:.0f} fps during the burst", w.fps >= FPS_TARGET)
        out.row(
            w.label,
            f"{w.seconds:.1f}",
            f"{w.fps:.1f}",
            f"{w.p95_ms:.0f}",
            f"{w.longest_gap_ms:.0f}",
            w.dots_max if w.label != "at rest" else "",
            target,
            verdict,
        )
    errors = info["console_errors"]
    kept_up = info.get("page_seq") is not None and info["page_seq"] >= info.get("final_seq", 0)
    out.notes = [
        "Page: " + ("the live diagram (window.flowdash present)" if info["diagram_page"]
                    else "**no live diagram found at /** (placeholder page): fps measures "
                    "an empty page"),
        f"The page {'kept up' if kept_up else '**did not keep up**'}: its last sequence "
        f"number {info.get('page_seq')} vs the engine's {info.get('final_seq')}; connection "
        f"states seen: {' -> '.join(dict.fromkeys(info.get('states') or [])) or 'n/a'}.",
        f"Console errors and failed requests: {len(errors)}"
        + (" (" + "; ".join(repr(e[:120]) for e in dict.fromkeys(errors)) + ")" if errors else ""),
        f"At rest: {rest_s:.0f} s after the diagram was drawn. 1280x800 viewport, software "
        "rendering, on the machine that also runs the server and moto.",
    ]  # fmt: skip
    if info.get("login_errors"):
        out.notes.append(
            "Before the flow page (login page, not counted): "
            + "; ".join(repr(e[:120]) for e in dict.fromkeys(info["login_errors"]))
        )
    if errors:
        out.verdicts.append((f"no console errors on the flow page ({len(errors)})", False))
    return out


def run(*, quick: bool) -> list[Table]:
    rest_s = 3.0 if quick else 5.0
    progress("browser: headless Chromium on /, 1,000-message burst")
    with flowdash_server() as server:
        windows, info = measure(server, rest_s=rest_s)
    return [table(windows, info, rest_s=rest_s)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter rest window")
    parser.add_argument("--record", action="store_true", help="append to bench/results/flow.md")
    args = parser.parse_args()
    emit(run(quick=args.quick), record=args.record, header="browser.py")


if __name__ == "__main__":
    main()
