"""The mobile push API: applications, devices, topic subscriptions, per-platform
publishing, switching devices off, errors, and credentials that never come back."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client

from dashboard.models import ApiToken, FlowEventRecord
from messaging.config import BackendConfig

SECRET = "AAAA-fcm-server-key-do-not-show"
GCM = json.dumps({"notification": {"title": "Sale", "body": "50% off"}})


class Api:
    def __init__(self, token: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        self.answers: list[str] = []

    def __call__(self, method: str, url: str, body: Any = None, status: int = 200) -> Any:
        call = getattr(self.client, method.lower())
        kwargs = {"content_type": "application/json"}
        response = call(url, json.dumps(body), **kwargs) if body is not None else call(url)
        self.answers.append(response.content.decode())
        assert response.status_code == status, response.content
        return response.json() if response.content else None


@pytest.fixture
def api(settings, moto_url: str, instructor: User) -> Api:
    settings.FLOWDASH_BACKEND = BackendConfig(backend="embedded", endpoint_url=moto_url)
    _, secret = ApiToken.issue(user=instructor, name="t")
    return Api(secret)


@pytest.mark.django_db
def test_the_course_steps_through_the_api(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = api("POST", "/api/push/applications",
              {"name": "shop", "platform": "GCM", "credential": SECRET}, 201)["arn"]  # fmt: skip
    assert api("GET", f"/api/push/applications/{app}") == {
        "arn": app, "name": "shop", "platform": "GCM", "enabled": True,
    }  # fmt: skip
    devices = [
        api("POST", "/api/push/endpoints",
            {"application_arn": app, "token": f"fcm-{i}", "custom_user_data": f"phone {i}"},
            201)["arn"]
        for i in range(3)
    ]  # fmt: skip
    listed = api("GET", f"/api/push/endpoints?application_arn={quote(app)}")
    assert {d["arn"]: d["custom_user_data"] for d in listed} == {
        d: f"phone {i}" for i, d in enumerate(devices)
    }
    topic = api("POST", "/api/topics", {"name": "offers"}, 201)["arn"]
    for device in devices:
        wanted = {"topic_arn": topic, "protocol": "application", "endpoint": device}
        sub = api("POST", "/api/subscriptions", wanted, 201)
        assert sub["protocol"] == "application"
    off = api("PATCH", f"/api/push/endpoints/{devices[2]}", {"enabled": False})
    assert off["enabled"] is False and off["custom_user_data"] == "phone 2"

    sent = api("POST", "/api/push/publish",
               {"topic_arn": topic, "message": {"default": "Sale!", "GCM": GCM}})  # fmt: skip
    cards = api("GET", "/api/outbox")
    assert sorted((c["kind"], c["to"], c["body"]) for c in cards) == sorted(
        ("push", d, GCM) for d in devices[:2]
    )
    assert {c["trace_id"] for c in cards} == {sent["message_id"]}

    refused = api("POST", "/api/push/send", {"endpoint_arn": devices[2], "body": "hi"}, 400)
    assert refused["error"]["code"] == "EndpointDisabled"

    api("DELETE", f"/api/push/endpoints/{devices[0]}", status=204)
    api("DELETE", f"/api/push/applications/{app}", status=204)
    assert api("GET", "/api/push/applications") == []
    assert api("GET", f"/api/subscriptions?topic_arn={quote(topic)}") == []

    # The credential went to SNS only: in no answer, no log line, no stored row.
    assert not [a for a in api.answers if SECRET in a]
    assert SECRET not in caplog.text
    assert not FlowEventRecord.objects.filter(data__icontains=SECRET).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "body", "code", "field", "wanted"),
    [
        ("/api/push/applications", {"name": "a", "platform": "FCM"}, "InvalidInput", "platform",
         "Unknown platform 'FCM'"),
        ("/api/push/endpoints", {"application_arn": "APP", "token": "bad token"}, "InvalidInput",
         "token", "not a GCM device token"),
        ("/api/push/publish", {"topic_arn": "TOPIC", "message": "{no json"}, "InvalidInput",
         "message", "must be JSON"),
        ("/api/push/publish", {"topic_arn": "TOPIC", "message": {"default": "x" * 5000}},
         "InvalidInput", "message", "at most 4,096 bytes"),
        ("/api/subscriptions", {"topic_arn": "TOPIC", "protocol": "application",
         "endpoint": "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/nope"},
         "ResourceNotFound", "endpoint", "does not exist"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_error_and_creates_nothing(
    api: Api, url: str, body: dict[str, Any], code: str, field: str, wanted: str
) -> None:
    app = api("POST", "/api/push/applications", {"name": "app"}, 201)["arn"]
    topic = api("POST", "/api/topics", {"name": "t"}, 201)["arn"]
    body = json.loads(json.dumps(body).replace('"APP"', json.dumps(app)).replace(
        '"TOPIC"', json.dumps(topic)))  # fmt: skip
    error = api("POST", url, body, 404 if code == "ResourceNotFound" else 400)["error"]
    assert error["code"] == code and error["field"] == field and wanted in error["message"]
    assert [a["arn"] for a in api("GET", "/api/push/applications")] == [app]
    assert api("GET", f"/api/push/endpoints?application_arn={quote(app)}") == []
    assert api("GET", f"/api/subscriptions?topic_arn={quote(topic)}") == []
    assert api("GET", "/api/outbox") == []


@pytest.mark.django_db
def test_changes_need_staff(settings, moto_url: str) -> None:
    settings.FLOWDASH_BACKEND = BackendConfig(backend="embedded", endpoint_url=moto_url)
    viewer = User.objects.create_user("viewer", password="x")
    _, secret = ApiToken.issue(user=viewer, name="t")
    api = Api(secret)
    api("POST", "/api/push/applications", {"name": "app"}, 403)
    api("POST", "/api/push/publish", {"topic_arn": "x", "message": {"default": "x"}}, 403)
    assert api("GET", "/api/push/applications") == []
