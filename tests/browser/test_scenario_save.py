"""Save the topology as a scenario in a real browser: build a topology, save it from the
classroom page (a taken slug is refused next to its field), wipe the backend, press the new
scenario's Load, and find the same topology again under ``sc-<slug>-``, workers included."""

from __future__ import annotations

import urllib.request
from typing import Any

from playwright.sync_api import expect

from .conftest import ARTIFACTS, Flow


def renamed(document: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Topics, queues and subscriptions of a definitions document, ``prefix`` taken off."""

    def short(name: str | None) -> str | None:
        return name[len(prefix) :] if name and name.startswith(prefix) else name

    return {
        "topics": [{**t, "name": short(t["name"])} for t in document["topics"]],
        "queues": [
            {**q, "name": short(q["name"]), "dead_letter_queue": short(q["dead_letter_queue"])}
            for q in document["queues"]
        ],
        "subscriptions": [
            {**s, "topic": short(s["topic"]), "endpoint": short(s["endpoint"])}
            for s in document["subscriptions"]
        ],
    }


def test_save_wipe_load_gives_the_same_topology(flow: Flow, suffix: str) -> None:
    page = flow.page
    slug = f"saved-{suffix}"
    _, queue = flow.fanout_with_dlq(
        topic=f"shop-{suffix}", queue=f"work-{suffix}", visibility_timeout=50, kind="order",
        raw_message_delivery=True,
    )  # fmt: skip
    flow.api("PUT", f"/api/queues/{queue['arn']}/workers", {"count": 1, "min_ms": 50, "max_ms": 80})
    before = flow.api("GET", "/api/definitions")

    page.goto(f"{flow.server.base}/class/")
    form = page.locator("[data-testid=scenario-save]")
    form.locator("[name=slug]").fill(slug)
    form.locator("[name=name]").fill(f"Shop {suffix}")
    form.locator("[name=explanation]").fill("Orders go to the work queue; poison ends in the DLQ.")
    form.locator("button[name=save]").click()
    expect(page.locator(".flash-success")).to_contain_text(
        f"Saved the topology as 'Shop {suffix}' (1 topic, 2 queues, 1 subscription, "
        "1 worker setting)."
    )
    row = page.locator(f'tr[data-slug="{slug}"]')
    expect(row).to_contain_text("Orders go to the work queue")

    # The same slug again: refused next to the field, with what was typed kept.
    flow.expect_console_error(r"status of 409")  # the refused form's page answers 409
    form.locator("[name=slug]").fill(slug)
    form.locator("[name=name]").fill("Another name")
    form.locator("button[name=save]").click()
    expect(page.locator("#save-slug-error")).to_have_text(
        f"A scenario with the slug '{slug}' exists already; pick another slug."
    )
    expect(form.locator("[name=name]")).to_have_value("Another name")
    assert page.locator(f'tr[data-slug="{slug}"]').count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".scenario-save").screenshot(path=str(ARTIFACTS / "scenario-save-refused.png"))

    # Wipe: the workers stop, the backend is emptied.
    flow.api("PUT", f"/api/queues/{queue['arn']}/workers", {"count": 0})
    reset = urllib.request.Request(f"{flow.server.moto}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=10):
        pass
    assert flow.api("GET", "/api/definitions")["queues"] == []

    page.goto(f"{flow.server.base}/class/")
    page.locator(f'tr[data-slug="{slug}"] button[data-action=load]').click()
    expect(page.locator(".gallery-status")).to_have_text(
        f"{slug}: loaded 1 topic(s) and 2 queue(s); press Play in a few seconds, or present it."
    )
    after = flow.api("GET", "/api/definitions")
    assert renamed(after, f"sc-{slug}-") == renamed(before, "")

    # The flow page shows it, the saved worker running on the new queue.
    flow.open()
    loaded = f"sc-{slug}-work-{suffix}"
    expect(page.locator(f'.node-queue[data-name="{loaded}"]')).to_be_visible()
    expect(page.locator(f'.node-worker[data-name="{loaded}#1"]')).to_be_visible(timeout=15_000)
    expect(page.locator(f'.edge-sub[data-to="{loaded}"] .pill-raw')).to_have_text("raw")
    page.screenshot(path=str(ARTIFACTS / "scenario-saved-and-loaded.png"))

    # Tidy: Reset removes what the scenario made, its worker too.
    page.goto(f"{flow.server.base}/class/")
    page.locator(f'tr[data-slug="{slug}"] button[data-action=reset]').click()
    expect(page.locator(".gallery-status")).to_contain_text(f"{slug}: deleted 1 topic(s)")
    flow.assert_clean()
