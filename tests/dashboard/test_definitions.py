"""Definitions through the dashboard: the API, the page and the management commands.

The in-process tests point Flowdash at the test's moto server as an ``endpoint``
backend (which cannot read a queue without receiving, so exports say so rather than
carry messages); the last test runs the commands beside a real ``manage.py serve``
with the embedded backend, and without one, on its saved state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from dashboard.definitions_views import NOTHING_UPLOADED
from dashboard.models import ApiToken
from messaging.definitions import MESSAGES_NOT_READ
from tests.dashboard.conftest import api_post, csrf_post
from tests.live import ROOT, flowdash_served

pytestmark = pytest.mark.django_db

DOCUMENT = {
    "format": "flowdash-definitions",
    "version": 1,
    "topics": [{"name": "orders"}],
    "queues": [
        {"name": "billing", "visibility_timeout": 40, "dead_letter_queue": "billing-dlq",
         "max_receive_count": 4},
        {"name": "billing-dlq"},
    ],
    "subscriptions": [
        {"topic": "orders", "protocol": "sqs", "endpoint": "billing",
         "filter_policy": {"kind": ["invoice"]}, "raw_message_delivery": True},
    ],
}  # fmt: skip
BAD = {**DOCUMENT, "queues": [{"name": "no spaces allowed"}], "subscriptions": []}
BAD_MESSAGE = "queues[0].name: A queue name may contain only letters, digits, '-' and '_'."


def api(method: str, url: str, token: str, body: Any = None) -> Any:
    if method == "post":
        return api_post(url, token, body)
    return Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}")


def held(sqs: Any) -> list[str]:
    return sorted(u.rsplit("/", 1)[-1] for u in sqs.list_queues().get("QueueUrls", []))


def sns_of(url: str) -> Any:
    return boto3.client(
        "sns", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
        aws_secret_access_key="x",
    )  # fmt: skip


# --- API ----------------------------------------------------------------------------------------


def test_api_imports_then_finds_everything_there(token: str, sqs: Any) -> None:
    preview = api("post", "/api/definitions?dry_run=1", token, DOCUMENT)
    assert preview.status_code == 200, preview.content
    assert preview.json()["applied"] is False
    assert preview.json()["created"] == {
        "topics": 1, "queues": 2, "subscriptions": 1, "messages": 0,
    }  # fmt: skip
    assert held(sqs) == []

    done = api("post", "/api/definitions", token, DOCUMENT)
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["applied"] is True
    assert body["summary"] == "created 1 topic, 2 queues, 1 subscription"
    assert [(i["kind"], i["name"], i["action"]) for i in body["items"]] == [
        ("topic", "orders", "create"), ("queue", "billing-dlq", "create"),
        ("queue", "billing", "create"), ("subscription", "orders → sqs:billing", "create"),
    ]  # fmt: skip
    assert held(sqs) == ["billing", "billing-dlq"]

    again = api("post", "/api/definitions", token, DOCUMENT).json()
    assert again["created"] == {"topics": 0, "queues": 0, "subscriptions": 0, "messages": 0}
    assert again["existing"] == {"topics": 1, "queues": 2, "subscriptions": 1}
    assert again["summary"] == "nothing to create; already there: 1 topic, 2 queues, 1 subscription"

    exported = api("get", "/api/definitions", token)
    assert exported.status_code == 200
    document = exported.json()
    billing = next(q for q in document["queues"] if q["name"] == "billing")
    assert (billing["visibility_timeout"], billing["dead_letter_queue"]) == (40, "billing-dlq")
    assert document["subscriptions"][0]["filter_policy"] == {"kind": ["invoice"]}


def test_api_export_with_messages_says_when_the_backend_cannot_read_them(
    token: str, sqs: Any
) -> None:
    url = sqs.create_queue(QueueName="full")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="stays unreceived")
    document = api("get", "/api/definitions?messages=1", token).json()
    assert document["notes"] == [MESSAGES_NOT_READ]
    assert "messages" not in document["queues"][0]
    got = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"]
    assert got[0]["Attributes"]["ApproximateReceiveCount"] == "1"  # the export received none


def test_api_refuses_a_bad_file_in_the_one_error_shape(token: str, sqs: Any) -> None:
    refused = api("post", "/api/definitions", token, BAD)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": {"code": "InvalidDefinitions", "message": BAD_MESSAGE, "field": "queues[0].name"}
    }
    not_json = Client().post(
        "/api/definitions", "{oops", content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )  # fmt: skip
    assert not_json.status_code == 400
    assert not_json.json()["error"]["message"].startswith("The file is not valid JSON (line 1")
    assert held(sqs) == [] and sns_of(sqs.meta.endpoint_url).list_topics()["Topics"] == []


def test_api_is_for_instructors_and_needs_csrf_in_a_session(
    backend: str, client_in: Client
) -> None:
    viewer = User.objects.create_user("student", password="pw")
    _, secret = ApiToken.issue(user=viewer, name="t")
    assert api("get", "/api/definitions", secret).status_code == 403
    assert api("post", "/api/definitions", secret, DOCUMENT).status_code == 403
    no_csrf = client_in.post("/api/definitions", DOCUMENT, content_type="application/json")
    assert no_csrf.status_code == 403


# --- The page -----------------------------------------------------------------------------------


def upload(client: Client, document: Any, name: str = "defs.json") -> Any:
    data = json.dumps(document).encode() if not isinstance(document, bytes) else document
    return csrf_post(client, "/definitions/", {"file": SimpleUploadedFile(name, data)})


def test_page_previews_then_imports(client_in: Client, sqs: Any) -> None:
    page = client_in.get("/definitions/")
    assert page.status_code == 200 and b"Download definitions" in page.content

    preview = upload(client_in, DOCUMENT)
    assert preview.status_code == 200
    text = preview.content.decode()
    assert "Importing defs.json" in text
    assert "This import would create 1 topic, 2 queues, 1 subscription." in text
    assert text.count('data-action="create"') == 4
    assert held(sqs) == []  # a preview creates nothing

    applied = csrf_post(client_in, "/definitions/import", {}, follow=True)
    assert "Imported defs.json: created 1 topic, 2 queues, 1 subscription." in (
        applied.content.decode()
    )
    assert held(sqs) == ["billing", "billing-dlq"]

    twice = upload(client_in, DOCUMENT).content.decode()
    assert twice.count('data-action="exists"') == 4
    assert "Everything in the file is there already: nothing to import." in twice
    assert 'data-testid="apply"' not in twice


def test_page_refuses_a_bad_file_and_creates_nothing(client_in: Client, sqs: Any) -> None:
    refused = upload(client_in, BAD)
    assert refused.status_code == 400
    assert BAD_MESSAGE in refused.content.decode().replace("&#x27;", "'")
    assert upload(client_in, b"\xff\xfe not text").status_code == 400
    stale = csrf_post(client_in, "/definitions/import", {}, follow=True)
    assert NOTHING_UPLOADED in stale.content.decode()
    assert held(sqs) == []


def test_page_download_is_an_attachment(client_in: Client, sqs: Any) -> None:
    sqs.create_queue(QueueName="kept")
    response = client_in.get("/definitions/download?messages=1")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="flowdash-definitions-')
    assert [q["name"] for q in json.loads(response.content)["queues"]] == ["kept"]


def test_page_is_for_instructors(backend: str) -> None:
    viewer = User.objects.create_user("student", password="pw")
    client = Client()
    client.force_login(viewer)
    assert client.get("/definitions/").status_code == 403
    assert client.get("/definitions/download").status_code == 403


# --- Management commands ------------------------------------------------------------------------


def test_commands_export_and_import(backend: str, sqs: Any, tmp_path: Path, capsys) -> None:
    call_command("definitions_import", _write(tmp_path / "in.json", DOCUMENT))
    assert "in.json: created 1 topic, 2 queues, 1 subscription" in capsys.readouterr().out
    out = tmp_path / "out.json"
    call_command("definitions_export", "-o", str(out))
    assert capsys.readouterr().out.startswith("wrote 1 topics, 2 queues, 1 subscriptions")
    exported = json.loads(out.read_text())
    for url in sqs.list_queues()["QueueUrls"]:
        sqs.delete_queue(QueueUrl=url)
    call_command("definitions_import", str(out))
    assert held(sqs) == ["billing", "billing-dlq"]
    call_command("definitions_import", str(out))
    assert "nothing to create; already there: 1 topic, 2 queues" in capsys.readouterr().out
    call_command("definitions_export", "-o", str(out))
    again = json.loads(out.read_text())
    assert {**again, "exported_at": ""} == {**exported, "exported_at": ""}

    with pytest.raises(CommandError) as refused:
        call_command("definitions_import", _write(tmp_path / "bad.json", BAD))
    assert str(refused.value) == f"{tmp_path / 'bad.json'} was refused; nothing was created:\n" + (
        f"  {BAD_MESSAGE}"
    )


def _write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def test_commands_beside_a_running_flowdash_and_on_its_saved_state(tmp_path: Path) -> None:
    """``make run`` runs: the commands reach its moto over HTTP. It is stopped: they
    start the embedded backend from the saved state (messages included) and save it."""
    var = tmp_path / "var"
    var.mkdir()
    with_messages = {
        **DOCUMENT,
        "queues": [*DOCUMENT["queues"], {"name": "inbox", "messages": [{"body": "hello"}]}],
    }
    with flowdash_served(var, password="definitions-test", FLOWDASH_OBSERVER="inside") as live:
        env = {
            **os.environ, "FLOWDASH_VAR_DIR": str(var), "FLOWDASH_BACKEND": "embedded",
            "FLOWDASH_MOTO_PORT": live.moto.rsplit(":", 1)[1], "PYTHONUNBUFFERED": "1",
        }  # fmt: skip
        env.pop("DJANGO_SETTINGS_MODULE", None)
        imported = manage(env, "definitions_import", _write(tmp_path / "in.json", with_messages))
        assert "created 1 topic, 3 queues, 1 subscription, 1 message" in imported.stdout
        sqs = boto3.client(
            "sqs", endpoint_url=live.moto, region_name="us-east-1", aws_access_key_id="x",
            aws_secret_access_key="x",
        )  # fmt: skip
        assert held(sqs) == ["billing", "billing-dlq", "inbox"]
        beside = manage(env, "definitions_export", "--messages")
        assert [q["name"] for q in json.loads(beside.stdout)["queues"]] == [
            "billing", "billing-dlq", "inbox",
        ]  # fmt: skip
        assert "Messages were not exported" in beside.stderr
    # Stopped: the command restores the saved state, messages included.
    alone = manage(env, "definitions_export", "--messages")
    assert "Embedded state: restored 1 topic, 3 queues, 1 subscription, 1 message" in alone.stderr
    inbox = next(q for q in json.loads(alone.stdout)["queues"] if q["name"] == "inbox")
    assert [m["body"] for m in inbox["messages"]] == ["hello"]
    more = {**DOCUMENT, "topics": [{"name": "added-offline"}], "queues": [], "subscriptions": []}
    assert (
        "created 1 topic"
        in manage(env, "definitions_import", _write(tmp_path / "m.json", more)).stdout
    )
    with flowdash_served(var, password="definitions-test", FLOWDASH_OBSERVER="inside") as again:
        names = [
            t["TopicArn"].rsplit(":", 1)[-1] for t in sns_of(again.moto).list_topics()["Topics"]
        ]
        assert sorted(names) == ["added-offline", "orders"]


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done
