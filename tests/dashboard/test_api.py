"""The JSON API: token and session auth, the operations, and one error shape."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from dashboard.models import ApiToken

pytestmark = pytest.mark.django_db


def call(method: str, url: str, token: str | None, body: object = None, raw: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    kwargs = {"content_type": "application/json", "data": data} if data is not None else {}
    return getattr(Client(), method)(url, **kwargs, **headers)


def test_requires_authentication(backend: str) -> None:
    response = call("get", "/api/topology", None)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "Unauthorized"
    assert call("get", "/api/topology", "fd_wrong").status_code == 401


def test_revoked_token_is_refused(token: str) -> None:
    assert call("get", "/api/topology", token).status_code == 200
    ApiToken.objects.update(revoked_at=timezone.now())
    assert call("get", "/api/topology", token).status_code == 401


def test_only_a_digest_is_stored(token: str) -> None:
    row = ApiToken.objects.get()
    assert token not in (row.digest, row.hint) and len(row.digest) == 64


def test_session_auth_needs_csrf(client_in: Client) -> None:
    assert client_in.get("/api/topology").status_code == 200
    response = client_in.post("/api/topics", {"name": "x"}, content_type="application/json")
    assert response.status_code == 403


def test_full_round_trip(token: str) -> None:
    topic = call("post", "/api/topics", token, {"name": "orders"})
    assert topic.status_code == 201, topic.content
    topic_arn = topic.json()["arn"]
    queue = call(
        "post", "/api/queues", token, {"name": "billing", "new_dead_letter_queue": "billing-dlq"}
    )
    assert queue.status_code == 201
    queue_arn = queue.json()["arn"]
    assert queue.json()["dead_letter_arn"].endswith(":billing-dlq")
    sub = call(
        "post",
        "/api/subscriptions",
        token,
        {
            "topic_arn": topic_arn,
            "protocol": "sqs",
            "endpoint": queue_arn,
            "filter_policy": {"region": ["eu"]},
        },
    )
    assert sub.status_code == 201, sub.content
    published = call(
        "post",
        f"/api/topics/{topic_arn}/publish",
        token,
        {"body": "hi", "attributes": [{"name": "region", "type": "String", "value": "eu"}]},
    )
    assert published.status_code == 200
    filtered = call(
        "post",
        f"/api/topics/{topic_arn}/publish",
        token,
        {"body": "hi", "attributes": [{"name": "region", "type": "String", "value": "us"}]},
    )
    assert filtered.status_code == 200
    sent = call("post", f"/api/queues/{queue_arn}/messages", token, {"body": "direct"})
    assert sent.status_code == 200
    topology = call("get", "/api/topology", token).json()
    (billing,) = [q for q in topology["queues"] if q["name"] == "billing"]
    assert billing["depth"] == {"visible": 2, "in_flight": 0, "delayed": 0}
    received = call("post", f"/api/queues/{queue_arn}/receive", token, {"max_messages": 10})
    messages = received.json()
    assert sorted(m["envelope"]["message"] if m["envelope"] else m["body"] for m in messages) == [
        "direct",
        "hi",
    ]
    (from_topic,) = [m for m in messages if m["envelope"]]
    assert from_topic["envelope"]["message_id"] == published.json()["message_id"]
    for m in messages:
        done = call(
            "post",
            f"/api/queues/{queue_arn}/messages/delete",
            token,
            {"receipt_handle": m["receipt_handle"]},
        )
        assert done.status_code == 204
    assert call("get", f"/api/queues/{queue_arn}", token).json()["depth"]["in_flight"] == 0
    assert call("delete", f"/api/subscriptions/{sub.json()['arn']}", token).status_code == 204
    assert call("delete", f"/api/topics/{topic_arn}", token).status_code == 204
    assert call("delete", f"/api/queues/{queue_arn}", token).status_code == 204


@pytest.mark.parametrize(
    ("url", "body", "field", "text"),
    [
        ("/api/topics", {"name": "bad name"}, "name", "letters, digits"),
        ("/api/queues", {"name": "jobs", "fifo": True}, "name", "must end in '.fifo'"),
        ("/api/queues", {"name": "q", "delay_seconds": 9999}, "delay_seconds", "between 0 and 900"),
        ("/api/topics", {}, "name", "Field required"),
    ],
)
def test_bad_input_is_a_400_with_the_field(
    token: str, url: str, body: dict, field: str, text: str
) -> None:
    response = call("post", url, token, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field
    assert text in error["message"]
    assert call("get", "/api/topology", token).json() == {
        "topics": [],
        "queues": [],
        "subscriptions": [],
    }


def test_malformed_json_body(token: str) -> None:
    response = call("post", "/api/topics", token, raw="{nope")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The request body is not valid JSON."


def test_errors_from_messaging_keep_their_status(token: str) -> None:
    missing = "arn:aws:sqs:us-east-1:123456789012:nope"
    response = call("get", f"/api/queues/{missing}", token)
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "queue"
    topic = call("post", "/api/topics", token, {"name": "t.fifo", "fifo": True}).json()
    response = call("post", f"/api/topics/{topic['arn']}/publish", token, {"body": "x"})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "InvalidInput",
        "message": "A FIFO topic needs a message group id.",
        "field": "message_group_id",
    }


def test_openapi_schema(backend: str, instructor: User) -> None:
    schema = Client().get("/api/openapi.json").json()
    assert schema["info"]["title"] == "Flowdash API"
    assert "/api/topics/{arn}/publish" in schema["paths"]
    assert "/api/queues/{arn}/receive" in schema["paths"]
