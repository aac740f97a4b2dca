"""The moto fast path's contract: version guard, exact revert, released memory.

Memory is checked by counting what moto holds (live model instances, what the
deleted-handle record keeps, SNS records), never by timing or RSS.
"""

from __future__ import annotations

import gc
import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from moto import backends as moto_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns import models as sns_models
from moto.sqs import models as sqs_models

from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.embedded import EmbeddedServer
from messaging.embedded import fastpath as moto_fastpath
from messaging.embedded import version as moto_version_guard
from messaging.embedded.fastpath import fastpath_active, fastpath_apply, fastpath_revert
from messaging.embedded.fixes import fixes_apply

REGION = "us-east-1"
PATCHED_OWNERS: tuple[Any, ...] = (
    moto_backends,
    sqs_models.Queue,
    sqs_models.Message,
    sqs_models.SQSBackend,
    sns_models.Subscription,
    sns_models.SMS,
    sns_models.Topic,
    sns_models.SNSBackend,
    sns_models.PlatformEndpoint,
)
ClassState = dict[tuple[str, str], object]


@pytest.fixture(autouse=True)
def _default_fastpath() -> Iterator[None]:
    """Each test may switch the fast path; the session server runs with it on after."""
    yield
    fastpath_apply()


def _class_state() -> ClassState:
    """Every attribute of the patched classes (and module), by identity.

    Left out: the instance lists, and ``__slotnames__``, which copyreg caches on a
    class the first time one of its instances is copied.
    """
    return {
        (cls.__name__, name): value
        for cls in PATCHED_OWNERS
        for name, value in vars(cls).items()
        if name not in ("instances_tracked", "__slotnames__")
    }


def _same_objects(left: ClassState, right: ClassState) -> bool:
    return left.keys() == right.keys() and all(left[key] is right[key] for key in left)


def _cycle(conn: Connection, url: str, count: int) -> None:
    """Send, receive and delete ``count`` messages in batches of ten."""
    for start in range(0, count, 10):
        entries = [{"Id": str(n), "MessageBody": f"m{start + n}"} for n in range(10)]
        conn.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        received = conn.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        conn.sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)
            ],
        )


def _live_messages() -> int:
    gc.collect()
    return len(list(sqs_models.Message.instances_tracked))  # type: ignore[attr-defined]


def _sqs_queue(name: str) -> Any:
    return sqs_models.sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues[name]


def _sns_backend() -> Any:
    return sns_models.sns_backends[DEFAULT_ACCOUNT_ID][REGION]


def test_unsupported_version_leaves_moto_stock_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fastpath_revert()
    fixes_apply()  # behaviour corrections are not part of the fast path; the server applies them
    stock = _class_state()
    monkeypatch.setattr(moto_version_guard, "moto_version", lambda: "5.99.0")
    monkeypatch.setattr(moto_version_guard, "_warned", set())

    with caplog.at_level(logging.WARNING, logger="messaging.embedded.version"):
        assert fastpath_apply() is False
        server = EmbeddedServer(port=0)
        url = server.start()  # applies again: still refused, still starts
        try:
            assert server.fastpath_active is False
            conn = Connection(BackendConfig(), endpoint_url=url)
            queue = conn.sqs.create_queue(QueueName="still-works")["QueueUrl"]
            conn.sqs.send_message(QueueUrl=queue, MessageBody="hello")
            [message] = conn.sqs.receive_message(QueueUrl=queue)["Messages"]
            assert message["Body"] == "hello"
        finally:
            server.stop()

    warnings = [r for r in caplog.records if r.name == "messaging.embedded.version"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "5.99.0" in warnings[0].getMessage()
    assert "fast path" in warnings[0].getMessage()
    assert fastpath_active() is False
    assert _same_objects(_class_state(), stock)


def test_apply_is_idempotent_and_revert_restores_stock_exactly() -> None:
    fastpath_revert()
    stock = _class_state()
    assert fastpath_active() is False

    assert fastpath_apply() is True
    patched = _class_state()
    assert patched[("Queue", "attributes")] is not stock[("Queue", "attributes")]
    assert ("Message", "__new__") in patched and ("Message", "__new__") not in stock
    assert (
        patched[("moto.backends", "list_of_moto_modules")]
        is not stock[("moto.backends", "list_of_moto_modules")]
    )
    assert fastpath_apply() is True  # no second layer of patches
    assert _same_objects(_class_state(), patched)

    fastpath_revert()
    assert fastpath_active() is False
    assert _same_objects(_class_state(), stock)
    assert type(vars(sqs_models.Message)["instances_tracked"]) is list


def test_environment_switch_runs_stock_moto(moto_server: str) -> None:
    config = BackendConfig.from_env({"FLOWDASH_MOTO_FASTPATH": "0"})
    assert config.moto_fastpath is False
    server = EmbeddedServer(port=0, fastpath=config.moto_fastpath)
    server.start()
    try:
        assert server.fastpath_active is False
        assert fastpath_active() is False
    finally:
        server.stop()
    default = EmbeddedServer(port=0)
    default.start()
    try:
        assert default.fastpath_active is True
    finally:
        default.stop()


@pytest.mark.parametrize("fastpath", [True, False], ids=["fastpath", "stock"])
def test_deleted_messages_and_receive_copies_are_released(fastpath: bool, conn: Connection) -> None:
    if fastpath:
        assert fastpath_apply()
    else:
        fastpath_revert()
    url = conn.sqs.create_queue(QueueName="released")["QueueUrl"]
    _cycle(conn, url, 10)
    before = _live_messages()
    _cycle(conn, url, 200)
    queue = _sqs_queue("released")
    handles_kept = [h for h in queue.deleted_messages if isinstance(h, str)]

    if fastpath:
        assert _live_messages() == before == 0
        assert handles_kept == []  # one 64-bit digest per handle, not 185 characters
        assert len(queue.deleted_messages) == 211  # 210 handles and the None of a first receive
    else:  # what stock moto keeps: every message, every per-receive copy, every handle
        assert _live_messages() - before == 400
        assert len(handles_kept) == 210


def test_queue_inspector_reads_moto_state_with_fastpath(conn: Connection) -> None:
    """What messaging/embedded/contents.py reads (Queue._messages and each Message's
    visible_at, delayed_until, receive count) is still moto's own state."""
    url = conn.sqs.create_queue(QueueName="inspected")["QueueUrl"]
    for body in ("in-flight", "visible"):
        conn.sqs.send_message(QueueUrl=url, MessageBody=body)
    conn.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30)
    conn.sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=60)

    queue = _sqs_queue("inspected")
    now_ms = time.time() * 1000
    state = {
        m.body: (now_ms < m.delayed_until, now_ms <= m.visible_at, m.approximate_receive_count)
        for m in list(queue._messages)
    }
    assert state == {
        "in-flight": (False, True, 1),
        "visible": (False, False, 0),
        "delayed": (True, False, 0),
    }
    assert [m.body for m in queue.messages] == ["visible"]
    assert queue.attributes["ApproximateNumberOfMessagesNotVisible"] == 1

    attributes = conn.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    with urllib.request.urlopen(f"{conn.endpoint_url}/moto-api/data.json", timeout=10) as response:
        dump = json.load(response)
    [dumped] = [q for q in dump["sqs"]["Queue"] if q["name"] == "inspected"]
    assert {k: str(v) for k, v in dumped["attributes"].items() if v is not None} == attributes
    assert sorted(m["body"] for m in dump["sqs"]["Message"]) == ["delayed", "in-flight", "visible"]


def test_sns_records_stay_readable_and_bounded(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moto_fastpath, "SNS_RECORD_LIMIT", 3)
    topic = conn.sns.create_topic(Name="recorded")["TopicArn"]
    application = conn.sns.create_platform_application(
        Name="app", Platform="GCM", Attributes={"PlatformCredential": "key"}
    )["PlatformApplicationArn"]
    endpoint = conn.sns.create_platform_endpoint(
        PlatformApplicationArn=application, Token="device-token"
    )["EndpointArn"]

    sms_ids, push_ids, topic_ids = [], [], []
    for n in range(5):
        sms = conn.sns.publish(PhoneNumber="+15555550100", Message=f"sms {n}")
        sms_ids.append(sms["MessageId"])
        push_ids.append(conn.sns.publish(TargetArn=endpoint, Message=f"push {n}")["MessageId"])
        topic_ids.append(conn.sns.publish(TopicArn=topic, Message=f"topic {n}")["MessageId"])

    backend = _sns_backend()
    assert list(backend.sms_messages) == sms_ids[-3:]
    assert backend.sms_messages[sms_ids[-1]] == ("+15555550100", "sms 4")
    assert list(backend.sms_message_objects) == sms_ids[-3:]
    assert dict(backend.platform_endpoints[endpoint].messages) == {
        push_ids[n]: f"push {n}" for n in (2, 3, 4)
    }
    assert [n[0] for n in backend.topics[topic].sent_notifications] == topic_ids[-3:]
    gc.collect()
    assert len(list(sns_models.SMS.instances_tracked)) == 3  # type: ignore[attr-defined]


def test_signing_certificate_is_shared_and_survives_reset(moto_url: str, conn: Connection) -> None:
    def publish_and_read_cert_url() -> str:
        topic = conn.sns.create_topic(Name="certs")["TopicArn"]
        url = conn.sqs.create_queue(QueueName="certs")["QueueUrl"]
        arn = conn.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        conn.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
        for n in range(3):
            conn.sns.publish(TopicArn=topic, Message=f"m{n}")
        bodies = conn.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        [cert_url] = {json.loads(m["Body"])["SigningCertURL"] for m in bodies}
        return cert_url

    first = publish_and_read_cert_url()
    keys = _sns_backend()._message_public_keys
    assert list(keys) == [first.rsplit("/", 1)[1]]  # one certificate, not one per delivery

    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    assert publish_and_read_cert_url() == first
    assert list(_sns_backend()._message_public_keys) == [first.rsplit("/", 1)[1]]
