"""Mobile push through a topic: applications, devices, subscriptions, per-platform
payloads, disabled endpoints, against a real moto server over HTTP."""

from __future__ import annotations

import json
import sys
from typing import Any

import boto3
import pytest

from messaging import push, resources, subscriptions
from messaging.connection import Connection
from messaging.embedded.contents import moto_sns_outbox
from messaging.errors import InvalidInput, OutsidePrefix, ResourceNotFound

APNS_TOKEN = "ab" * 32
GCM = json.dumps({"notification": {"title": "Sale", "body": "50% off"}})
APNS = json.dumps({"aps": {"alert": "50% off"}})


def received(conn: Connection) -> dict[str, list[str]]:
    """What each device got, from the embedded backend's record."""
    got: dict[str, list[str]] = {}
    for record in moto_sns_outbox(account=push.MOTO_ACCOUNT, region=conn.config.region):
        if record["kind"] == "push":
            got.setdefault(record["to"], []).append(record["body"])
    return got


@pytest.fixture
def outside(moto_url: str) -> Any:
    """Another program's plain boto3 client."""
    return boto3.client(
        "sns", endpoint_url=moto_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="y",
    )  # fmt: skip


def test_a_topic_delivers_each_platform_its_payload_and_skips_disabled_devices(
    conn: Connection,
) -> None:
    topic = resources.topic_create(conn, name="offers").arn
    android = push.platform_application_create(conn, name="shop-android", platform="GCM")
    ios = push.platform_application_create(conn, name="shop-ios", platform="APNS")
    phone = push.platform_endpoint_create(conn, application_arn=android, token="fcm-token-1")
    tablet = push.platform_endpoint_create(
        conn, application_arn=ios, token=APNS_TOKEN, custom_user_data="Ada's iPad"
    )
    off = push.platform_endpoint_create(
        conn, application_arn=android, token="fcm-token-2", enabled=False
    )
    for device in (phone, tablet, off):
        sub = subscriptions.subscription_create(
            conn, topic_arn=topic, protocol="application", endpoint=device
        )
        assert (sub.protocol, sub.endpoint) == ("application", device)

    push.topic_push_publish(
        conn, topic_arn=topic, message={"default": "50% off today", "GCM": GCM, "APNS": APNS}
    )
    assert received(conn) == {phone: [GCM], tablet: [APNS]}  # nothing for the disabled one

    # Switched on again, it gets the next one; a platform without a key gets "default".
    assert push.platform_endpoint_update(conn, arn=off, enabled=True).enabled is True
    push.topic_push_publish(
        conn, topic_arn=topic, message=json.dumps({"default": "Hi", "GCM": GCM})
    )
    assert received(conn) == {phone: [GCM, GCM], tablet: [APNS, "Hi"], off: [GCM]}


def test_a_direct_push_to_a_disabled_device_is_refused(conn: Connection) -> None:
    app = push.platform_application_create(conn, name="app")
    device = push.platform_endpoint_create(conn, application_arn=app, token="t-1")
    push.platform_endpoint_update(conn, arn=device, enabled=False)
    with pytest.raises(InvalidInput) as refused:
        push.push_send(conn, endpoint_arn=device, body="hello")
    assert refused.value.code == "EndpointDisabled" and "switched off" in refused.value.message
    assert received(conn) == {}
    with pytest.raises(InvalidInput, match="at most 4,096 bytes"):
        push.push_send(conn, endpoint_arn=device, body="x" * 4097)


def test_the_embedded_backend_applies_aws_rules_to_other_programs_too(
    conn: Connection, outside: Any
) -> None:
    app = outside.create_platform_application(
        Name="theirs", Platform="APNS", Attributes={"PlatformCredential": "-----PRIVATE KEY-----"}
    )["PlatformApplicationArn"]
    # SNS never answers a credential back; stock moto did.
    attrs = outside.get_platform_application_attributes(PlatformApplicationArn=app)["Attributes"]
    listed = outside.list_platform_applications()["PlatformApplications"]
    assert "PlatformCredential" not in attrs and "PRIVATE" not in json.dumps(listed)
    device = outside.create_platform_endpoint(PlatformApplicationArn=app, Token=APNS_TOKEN)[
        "EndpointArn"
    ]
    topic = outside.create_topic(Name="news")["TopicArn"]
    outside.subscribe(TopicArn=topic, Protocol="application", Endpoint=device)
    message = json.dumps({"default": "plain", "APNS": APNS, "GCM": GCM})
    outside.publish(TopicArn=topic, Message=message, MessageStructure="json")
    assert received(conn) == {device: [APNS]}  # the platform's key, not "application"'s
    outside.set_endpoint_attributes(EndpointArn=device, Attributes={"Enabled": "false"})
    outside.publish(TopicArn=topic, Message="second")
    assert received(conn) == {device: [APNS]}
    with pytest.raises(outside.exceptions.EndpointDisabledException):
        outside.publish(TargetArn=device, Message="direct")


@pytest.mark.parametrize(
    ("message", "wanted"),
    [
        ("not json", "must be JSON"),
        ('["default"]', "must be a JSON object"),
        ({"GCM": GCM}, "needs a 'default' text"),
        ({"default": "x", "FCM": GCM}, "Unknown key 'FCM'"),
        ({"default": "x", "GCM": "plain text"}, "GCM payload must be a JSON object"),
        ({"default": "x", "APNS": {"aps": {}}}, "APNS payload must be a string"),
        (
            {"default": "x", "GCM": json.dumps({"data": {"m": "x" * 5000}})},
            "a push notification can be at most 4,096 bytes",
        ),
        ({"default": "x" * 4097}, "default payload is 4,097 bytes"),
    ],
)
def test_a_bad_structured_message_is_refused_and_nothing_is_sent(
    conn: Connection, message: Any, wanted: str
) -> None:
    topic = resources.topic_create(conn, name="offers").arn
    app = push.platform_application_create(conn, name="app")
    device = push.platform_endpoint_create(conn, application_arn=app, token="t-1")
    subscriptions.subscription_create(
        conn, topic_arn=topic, protocol="application", endpoint=device
    )
    with pytest.raises(InvalidInput, match=wanted) as refused:
        push.topic_push_publish(conn, topic_arn=topic, message=message)
    assert refused.value.field == "message"
    assert received(conn) == {}


def test_bad_input_creates_nothing(conn: Connection) -> None:
    with pytest.raises(InvalidInput, match="Unknown platform 'FCM'"):
        push.platform_application_create(conn, name="app", platform="FCM")
    assert push.platform_application_list(conn) == []
    ios = push.platform_application_create(conn, name="ios", platform="APNS")
    for token, wanted in (
        ("not-hex-" * 8, "not a APNS device token"),
        ("ab" * 10, "64 to 200 hexadecimal"),
        ("  ", "Enter the device's push token"),
    ):
        with pytest.raises(InvalidInput, match=wanted):
            push.platform_endpoint_create(conn, application_arn=ios, token=token)
    android = push.platform_application_create(conn, name="android")
    with pytest.raises(InvalidInput, match="only letters, digits"):
        push.platform_endpoint_create(conn, application_arn=android, token="has space")
    with pytest.raises(InvalidInput, match="at most 2,048 bytes"):
        push.platform_endpoint_create(
            conn, application_arn=android, token="t", custom_user_data="x" * 2049
        )
    assert push.push_topology(conn)[1] == []
    topic = resources.topic_create(conn, name="t").arn
    with pytest.raises(InvalidInput, match="choose a device"):
        subscriptions.subscription_create(
            conn, topic_arn=topic, protocol="application", endpoint="arn:aws:sns:x"
        )
    gone = android.replace(":app/", ":endpoint/") + "/00000000-0000-0000-0000-000000000000"
    with pytest.raises(ResourceNotFound, match="does not exist"):
        subscriptions.subscription_create(
            conn, topic_arn=topic, protocol="application", endpoint=gone
        )
    assert subscriptions.subscription_list(conn, topic_arn=topic) == []


def test_reads_lists_and_deletes(conn: Connection) -> None:
    topic = resources.topic_create(conn, name="t").arn
    app = push.platform_application_create(conn, name="app", credential="server-key-123")
    got = push.platform_application_get(conn, arn=app)
    assert (got.name, got.platform, got.enabled) == ("app", "GCM", True)
    assert "server-key-123" not in repr(got) + repr(push.platform_application_list(conn))
    a = push.platform_endpoint_create(conn, application_arn=app, token="a", custom_user_data="Ada")
    b = push.platform_endpoint_create(conn, application_arn=app, token="b")
    # Idempotent as SNS: the same token and data give the same endpoint.
    assert (
        push.platform_endpoint_create(conn, application_arn=app, token="a", custom_user_data="Ada")
        == a
    )
    for device in (a, b):
        subscriptions.subscription_create(
            conn, topic_arn=topic, protocol="application", endpoint=device
        )
    devices = {e.arn: e for e in push.platform_endpoint_list(conn, application_arn=app)}
    assert devices[a].custom_user_data == "Ada" and devices[a].token == "a"
    updated = push.platform_endpoint_update(conn, arn=a, custom_user_data="Ada's phone")
    assert updated.custom_user_data == "Ada's phone" and updated.enabled
    push.platform_endpoint_delete(conn, arn=a)  # and its subscription
    assert [s.endpoint for s in subscriptions.subscription_list(conn, topic_arn=topic)] == [b]
    push.platform_application_delete(conn, arn=app)  # its devices and their subscriptions
    assert subscriptions.subscription_list(conn, topic_arn=topic) == []
    assert push.push_topology(conn) == ([], [])


def test_the_prefix_guards_push_resources(moto_url: str) -> None:
    from messaging.config import BackendConfig

    conn = Connection(BackendConfig(resource_prefix="fd-"), endpoint_url=moto_url)
    app = push.platform_application_create(conn, name="app")
    assert app.endswith(":app/GCM/fd-app")
    other = Connection(BackendConfig(), endpoint_url=moto_url)
    theirs = push.platform_application_create(other, name="theirs")
    assert [a.arn for a in push.platform_application_list(conn)] == [app]
    with pytest.raises(OutsidePrefix):
        push.platform_endpoint_create(conn, application_arn=theirs, token="t")


def test_a_class_of_phones_registers_and_subscribes_at_once(conn: Connection, outside: Any) -> None:
    """moto iterated its subscriptions and endpoints while other threads added to them
    (HTTP 500, "OrderedDict mutated during iteration"); SNS takes every one."""
    from concurrent.futures import ThreadPoolExecutor

    topic = outside.create_topic(Name="class")["TopicArn"]
    app = push.platform_application_create(conn, name="phones")
    for _ in range(200):  # a class already there makes each scan long enough to collide
        outside.subscribe(TopicArn=topic, Protocol="sms", Endpoint=f"+1555{_:07d}")

    def phone(i: int) -> str:
        arn = outside.create_platform_endpoint(PlatformApplicationArn=app, Token=f"t{i}")[
            "EndpointArn"
        ]
        outside.subscribe(TopicArn=topic, Protocol="application", Endpoint=arn)
        return str(arn)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often, as on a busy server: collisions
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            devices = list(pool.map(phone, range(300)))
    finally:
        sys.setswitchinterval(switch)
    assert len(set(devices)) == 300
    subs = outside.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
    assert sum(1 for page in subs for s in page["Subscriptions"]) == 500


def test_a_topic_reaches_more_than_a_hundred_devices(conn: Connection, outside: Any) -> None:
    """moto fanned out to the first page of ListSubscriptionsByTopic only (100)."""
    topic = outside.create_topic(Name="big-class")["TopicArn"]
    app = push.platform_application_create(conn, name="phones")
    devices = []
    for i in range(130):
        arn = outside.create_platform_endpoint(PlatformApplicationArn=app, Token=f"t{i}")[
            "EndpointArn"
        ]
        outside.subscribe(TopicArn=topic, Protocol="application", Endpoint=arn)
        devices.append(arn)
    outside.publish(TopicArn=topic, Message="everyone")
    assert received(conn) == {d: ["everyone"] for d in devices}
