"""Phones as devices: registering, switching off and on, the instructor's notification,
and the participant socket (/ws/class/) through the real ASGI stack (origin and session
checks, rate limit), against a real moto server with the push scenario loaded."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache

from dashboard import flowbus
from dashboard.asgi import application
from dashboard.classroom import scenario_services as services
from dashboard.classroom import session_services as class_services
from messaging import push
from messaging.config import BackendConfig
from messaging.embedded.contents import moto_sns_outbox
from messaging.subscriptions import subscription_list

from .conftest import scenarios_sync, staff_user
from .test_participants import Phone, staff_call, staff_client

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
APNS_TOKEN = "0f" * 32


def push_class(slug: str = "push") -> SimpleNamespace:
    cache.clear()
    scenarios = scenarios_sync()
    user = staff_user()
    class_session = class_services.class_session_start(user=user, title="Push 101")
    loaded = services.scenario_load(scenario=scenarios[slug], user=user)
    class_services.class_session_scenario_set(
        class_session=class_session, scenario=scenarios[slug], topics=loaded.topics,
        queues=loaded.queues,
    )  # fmt: skip
    return SimpleNamespace(code=class_session.join_code, loaded=loaded)


def joined(code: str, name: str) -> Phone:
    phone = Phone()
    assert phone.join(code, name).status_code == 302
    return phone


def received() -> dict[str, list[str]]:
    got: dict[str, list[str]] = {}
    for r in moto_records():
        got.setdefault(r["to"], []).append(r["body"])
    return got


def moto_records() -> list[dict[str, str]]:
    records = moto_sns_outbox(account=push.MOTO_ACCOUNT, region="us-east-1")
    return [r for r in records if r["kind"] == "push"]


@pytest.mark.django_db
def test_phones_register_switch_off_and_receive(live_settings, moto_url: str) -> None:
    from dashboard.backend import connection

    klass = push_class()
    ada, cy = joined(klass.code, "Ada"), joined(klass.code, "Cy")
    bad = ada.call("post", "/api/classroom/me/device", {"token": "x y", "platform": "GCM"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "token"
    bad = ada.call("post", "/api/classroom/me/device", {"token": "abc", "platform": "APNS"})
    assert bad.status_code == 400 and "hexadecimal" in bad.json()["error"]["message"]
    bad = ada.call("post", "/api/classroom/me/device", {"token": "abc", "platform": "WNS"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "platform"
    _, endpoints = push.push_topology(connection())
    assert endpoints == []  # nothing half-created
    a = ada.call("post", "/api/classroom/me/device", {"token": "fcm-ada", "platform": "GCM"})
    c = cy.call("post", "/api/classroom/me/device", {"token": APNS_TOKEN, "platform": "APNS"})
    assert a.status_code == c.status_code == 200, (a.content, c.content)
    a_arn, c_arn = a.json()["endpoint_arn"], c.json()["endpoint_arn"]
    assert ":endpoint/GCM/sc-push-phones-android/" in a_arn
    assert ":endpoint/APNS/sc-push-phones-ios/" in c_arn
    assert push.platform_endpoint_get(connection(), arn=a_arn).custom_user_data.startswith("Ada")

    teacher = staff_client()
    sent = staff_call(teacher, "post", f"/api/classroom/sessions/{klass.code}/push/publish",
                      {"title": "Quiz", "body": "in 5 minutes"})  # fmt: skip
    assert sent.status_code == 200, sent.content
    got = received()
    assert json.loads(got[a_arn][0]) == {"notification": {"title": "Quiz", "body": "in 5 minutes"}}
    assert json.loads(got[c_arn][0]) == {
        "aps": {"alert": {"title": "Quiz", "body": "in 5 minutes"}}
    }

    off = cy.call("post", "/api/classroom/me/device/enabled", {"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    staff_call(teacher, "post", f"/api/classroom/sessions/{klass.code}/push/publish",
               {"body": "second"})  # fmt: skip
    got = received()
    assert len(got[a_arn]) == 2 and len(got[c_arn]) == 1
    # A participant can only ever switch their own device: Ada's session has Ada's.
    assert (
        ada.call("post", "/api/classroom/me/device/enabled", {"enabled": False}).json()[
            "endpoint_arn"
        ]
        == a_arn
    )
    empty = staff_call(teacher, "post", f"/api/classroom/sessions/{klass.code}/push/publish",
                       {"body": " "})  # fmt: skip
    assert empty.status_code == 400


@pytest.mark.django_db
def test_reset_deletes_the_applications_and_the_phones_devices(live_settings, moto_url) -> None:
    """Resetting "Mobile push step by step" removes its platform applications and every
    phone's device with them (and their subscriptions), and leaves another scenario's
    and the user's own alone; a phone registering after a reload gets a fresh device."""
    from dashboard.backend import connection

    conn = connection()
    mine = push.platform_application_create(conn, name="my-own-app", platform="GCM")
    my_device = push.platform_endpoint_create(conn, application_arn=mine, token="fcm-mine")
    klass = push_class()
    ada, cy = joined(klass.code, "Ada"), joined(klass.code, "Cy")
    a = ada.call("post", "/api/classroom/me/device", {"token": "fcm-ada", "platform": "GCM"})
    c = cy.call("post", "/api/classroom/me/device", {"token": APNS_TOKEN, "platform": "APNS"})
    assert a.status_code == c.status_code == 200, (a.content, c.content)
    topic = klass.loaded.topics["news"]
    assert len([s for s in subscription_list(conn, topic_arn=topic)]) == 2

    teacher = staff_client()
    reset = staff_call(teacher, "post", "/api/classroom/scenarios/push/reset")
    assert reset.status_code == 200, reset.content
    result = reset.json()
    assert sorted(result["applications"]) == ["sc-push-phones-android", "sc-push-phones-ios"]
    assert result["devices"] == 2 and result["topics"] == ["sc-push-news"]
    apps, endpoints = push.push_topology(conn)
    assert [app.arn for app in apps] == [mine]
    assert [e.arn for e in endpoints] == [my_device]
    assert all(r["to"] == my_device for r in moto_records())  # nothing else to push to

    # Loaded again, a phone registers afresh (its old device is gone, not half there).
    services.scenario_load(scenario=scenarios_sync()["push"], user=staff_user())
    again = ada.call("post", "/api/classroom/me/device", {"token": "fcm-ada", "platform": "GCM"})
    assert again.status_code == 200, again.content
    assert again.json()["endpoint_arn"] != a.json()["endpoint_arn"]


@pytest.mark.django_db
def test_a_class_without_push_says_so(live_settings) -> None:
    klass = push_class("fanout")
    ada = joined(klass.code, "Ada")
    refused = ada.call("post", "/api/classroom/me/device", {"token": "t", "platform": "GCM"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NoPush"
    teacher = staff_client()
    view = staff_call(teacher, "get", f"/api/classroom/sessions/{klass.code}/push")
    assert view.status_code == 200 and view.json() == {"available": False}
    # Participants cannot use the staff side.
    assert ada.call("post", f"/api/classroom/sessions/{klass.code}/push/publish",
                    {"body": "x"}).status_code in (401, 403)  # fmt: skip


# --- The participant socket


def phone_cookie(phone: Phone) -> bytes:
    return f"sessionid={phone.client.cookies['sessionid'].value}".encode()


async def receive(ws: WebsocketCommunicator, kind: str, within: float = 10) -> dict[str, Any]:
    while True:
        message = json.loads(await ws.receive_from(timeout=within))
        if message["type"] == kind:
            return message


@pytest.mark.django_db(transaction=True)
async def test_the_phone_socket_authenticates_numbers_and_limits(live_settings, moto_url) -> None:
    # The embedded observer: it names each device's own payload (the outside one cannot).
    live_settings.FLOWDASH_BACKEND = BackendConfig(backend="embedded", endpoint_url=moto_url)
    try:
        klass = await sync_to_async(push_class)()
        ada = await sync_to_async(joined)(klass.code, "Ada")
        cookie = await sync_to_async(phone_cookie)(ada)

        anonymous = WebsocketCommunicator(application, "/ws/class/", headers=[ORIGIN])
        connected, code = await anonymous.connect(timeout=10)
        assert not connected and code == 4401
        evil = WebsocketCommunicator(
            application, "/ws/class/",
            headers=[(b"origin", b"http://evil.example"), (b"cookie", cookie)],
        )  # fmt: skip
        connected, _ = await evil.connect(timeout=10)
        assert not connected

        ws = WebsocketCommunicator(application, "/ws/class/", headers=[ORIGIN, (b"cookie", cookie)])
        connected, _ = await ws.connect(timeout=20)
        assert connected
        snapshot = await receive(ws, "snapshot", within=20)
        assert snapshot["last_seq"] == 0 and snapshot["me"]["push"] is True
        assert snapshot["device"] is None and snapshot["me"]["name"] == "Ada"

        device = await sync_to_async(ada.call)(
            "post", "/api/classroom/me/device", {"token": "fcm-ada", "platform": "GCM"}
        )
        assert device.status_code == 200, device.content
        await ws.send_to(text_data=json.dumps({"type": "resync"}))
        again = await receive(ws, "snapshot")
        assert again["device"]["endpoint_arn"] == device.json()["endpoint_arn"]

        teacher = await sync_to_async(staff_client)()
        for text in ("one", "two"):
            sent = await sync_to_async(staff_call)(
                teacher, "post", f"/api/classroom/sessions/{klass.code}/push/publish",
                {"title": "T", "body": text},
            )  # fmt: skip
            assert sent.status_code == 200
        first, second = await receive(ws, "frame"), await receive(ws, "frame")
        assert [f["from_seq"] for f in (first, second)] == [1, 2]
        note = first["events"][0]
        assert (note["type"], note["platform"]) == ("notification", "GCM")
        assert json.loads(note["payload"])["notification"]["body"] == "one"
        resync = await receive_after_resync(ws)
        assert resync["last_seq"] == 2 and len(resync["recent"]) == 2

        # A phone sends little; a flood closes the socket (4429).
        for _ in range(25):
            await ws.send_to(text_data=json.dumps({"type": "resync"}))
        closed = None
        for _ in range(60):
            message = await ws.receive_output(timeout=10)
            if message["type"] == "websocket.close":
                closed = message.get("code")
                break
        assert closed == 4429
    finally:
        await flowbus.shutdown()


async def receive_after_resync(ws: WebsocketCommunicator) -> dict[str, Any]:
    await ws.send_to(text_data=json.dumps({"type": "resync"}))
    return await receive(ws, "snapshot")
