"""The Definitions page in a real browser: download the topology with its messages, wipe
the backend, upload the file, see what will be created, import, and find it all back;
upload it again and nothing is to be done; a bad file shows its problems."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from playwright.sync_api import expect

from .conftest import ARTIFACTS, Flow


def test_download_wipe_upload_preview_import(flow: Flow, suffix: str, tmp_path: Path) -> None:
    _, queue = flow.fanout_with_dlq(
        topic=f"defs-{suffix}", queue=f"defs-{suffix}", visibility_timeout=50, kind="lecture"
    )
    flow.api(
        "POST", f"/api/queues/{queue['arn']}/messages",
        {"body": "waiting <b>here</b>",
         "attributes": [{"name": "kind", "type": "String", "value": "lecture"}]},
    )  # fmt: skip
    page = flow.page
    page.goto(f"{flow.server.base}/definitions/")
    page.check("input[name=messages]")
    with page.expect_download() as download_info:
        page.click("[data-testid=download]")
    download = download_info.value
    assert download.suggested_filename.startswith("flowdash-definitions-")
    saved = tmp_path / "definitions.json"
    download.save_as(saved)
    document = json.loads(saved.read_text())
    queues = {q["name"]: q for q in document["queues"]}
    assert queues[f"defs-{suffix}"]["dead_letter_queue"] == f"defs-{suffix}-dlq"
    assert [m["body"] for m in queues[f"defs-{suffix}"]["messages"]] == ["waiting <b>here</b>"]

    reset = urllib.request.Request(f"{flow.server.moto}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=10):
        pass
    assert flow.api("GET", "/api/definitions")["queues"] == []

    page.set_input_files("input[name=file]", str(saved))
    page.click("[data-testid=preview]")
    plan = page.locator("[data-testid=plan]")
    expect(plan).to_be_visible()
    expect(page.locator("[data-testid=plan-summary]")).to_have_text(
        "This import would create 1 topic, 2 queues, 1 subscription, 1 message."
    )
    assert plan.locator('li[data-action="create"]').count() == 4
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "definitions-preview.png"), full_page=True)
    assert flow.api("GET", "/api/definitions")["queues"] == []  # the preview made nothing

    page.click("[data-testid=apply]")
    expect(page.locator(".flash-success")).to_contain_text(
        "created 1 topic, 2 queues, 1 subscription, 1 message"
    )
    back = flow.api("GET", "/api/definitions?messages=1")
    queues = {q["name"]: q for q in back["queues"]}
    assert sorted(queues) == [f"defs-{suffix}", f"defs-{suffix}-dlq"]
    assert queues[f"defs-{suffix}"]["max_receive_count"] == 4
    assert [m["body"] for m in queues[f"defs-{suffix}"]["messages"]] == ["waiting <b>here</b>"]
    assert back["subscriptions"][0]["filter_policy"] == {"kind": ["lecture"]}

    # The same file again: everything is there, nothing to import.
    page.set_input_files("input[name=file]", str(saved))
    page.click("[data-testid=preview]")
    expect(page.locator("[data-testid=plan]")).to_contain_text(
        "Everything in the file is there already: nothing to import."
    )
    assert page.locator('[data-testid=plan] li[data-action="exists"]').count() == 4
    assert page.locator("[data-testid=apply]").count() == 0


def test_a_bad_file_shows_its_problems(flow: Flow, suffix: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    document = {
        "format": "flowdash-definitions",
        "version": 1,
        "queues": [{"name": f"ok-{suffix}"}, {"name": "no spaces please"}],
    }
    bad.write_text(json.dumps(document))
    flow.expect_console_error(r"status of 400")  # the refused upload's page answers 400
    page = flow.page
    page.goto(f"{flow.server.base}/definitions/")
    page.set_input_files("input[name=file]", str(bad))
    page.click("[data-testid=preview]")
    expect(page.locator("[data-testid=problems]")).to_contain_text(
        "queues[1].name: A queue name may contain only letters, digits, '-' and '_'."
    )
    assert page.locator("[data-testid=plan]").count() == 0
    assert flow.api("GET", "/api/definitions")["queues"] == []
