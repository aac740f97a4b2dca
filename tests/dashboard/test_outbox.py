"""What SNS sent outside SQS shows up as cards: SMS, mobile push, email/SMS subscriptions."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client

from dashboard.models import ApiToken
from messaging import publishing, resources, subscriptions
from messaging.config import BackendConfig
from messaging.connection import Connection

from .test_flow_stream import connect, live_settings, stream  # noqa: F401


def api_for(user: User) -> Client:
    _, secret = ApiToken.issue(user=user, name="t")
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.mark.django_db
def test_direct_sms_and_push_become_cards(settings, moto_url: str, instructor: User) -> None:
    settings.FLOWDASH_BACKEND = BackendConfig(backend="embedded", endpoint_url=moto_url)
    api = api_for(instructor)
    bad = api.post(
        "/api/sms", {"phone_number": "555", "body": "hi"}, content_type="application/json"
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "phone_number"
    sms = api.post(
        "/api/sms", {"phone_number": "+14155550100", "body": "Your code is 1234"},
        content_type="application/json",
    )  # fmt: skip
    assert sms.status_code == 200
    app = api.post("/api/push/applications", {"name": "shop-app"}, content_type="application/json")
    assert app.status_code == 201, app.content
    device = api.post(
        "/api/push/endpoints", {"application_arn": app.json()["arn"], "token": "device-1"},
        content_type="application/json",
    ).json()["arn"]  # fmt: skip
    push = api.post(
        "/api/push/send", {"endpoint_arn": device, "body": "Your order shipped"},
        content_type="application/json",
    )  # fmt: skip
    assert push.status_code == 200
    cards = api.get("/api/outbox").json()
    assert {(c["kind"], c["to"], c["body"]) for c in cards} == {
        ("sms", "+14155550100", "Your code is 1234"),
        ("push", device, "Your order shipped"),
    }


@pytest.mark.django_db(transaction=True)
async def test_subscription_deliveries_become_cards(stream, moto_url: str) -> None:  # noqa: F811
    conn = Connection(BackendConfig(), endpoint_url=moto_url)
    topic = resources.topic_create(conn, name="alerts")
    subscriptions.subscription_create(
        conn, topic_arn=topic.arn, protocol="sms", endpoint="+15550001111"
    )
    subscriptions.subscription_create(
        conn, topic_arn=topic.arn, protocol="email", endpoint="ops@example.com"
    )
    client = await connect()
    trace = publishing.topic_publish(conn, topic_arn=topic.arn, body="Disk full").message_id
    await client.until(lambda: len(client.of("delivered", trace)) == 2)
    user = await sync_to_async(User.objects.create_user)("viewer2", password="x")
    api = await sync_to_async(api_for)(user)
    cards: list = []
    for _ in range(40):  # persisted in batches every half second
        cards = (await sync_to_async(api.get)("/api/outbox")).json()
        if len(cards) == 2:
            break
        await client.pump()
    assert {(c["kind"], c["to"], c["body"]) for c in cards} == {
        ("sms", "+15550001111", "Disk full"),
        ("email", "ops@example.com", "Disk full"),
    }
    await client.ws.disconnect()
