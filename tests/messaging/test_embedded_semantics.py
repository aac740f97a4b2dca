"""The SQS/SNS behaviour Flowdash relies on, checked on the embedded server over HTTP.

Every test runs twice, with moto's fast path on and off: the fast path may change
how moto computes, never what it answers, so both runs assert the same values.
Visibility timeouts are 1 s and waits a little longer, to keep the suite short.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from messaging.connection import Connection
from messaging.embedded.fastpath import fastpath_active, fastpath_apply, fastpath_revert

LAPSE = 1.3  # seconds: a 1 s visibility timeout or delay has passed


@pytest.fixture(params=[True, False], ids=["fastpath", "stock"])
def fastpath(request: pytest.FixtureRequest, conn: Connection) -> Iterator[bool]:
    """Runs the test with the fast path on or off; leaves it on (the default) after."""
    if request.param:
        assert fastpath_apply()
    else:
        fastpath_revert()
    assert fastpath_active() is request.param
    yield request.param
    fastpath_apply()


def _queue(conn: Connection, name: str, **attributes: str) -> str:
    return conn.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def _arn(conn: Connection, url: str) -> str:
    attrs = conn.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attrs["Attributes"]["QueueArn"]


def _receive(conn: Connection, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("MaxNumberOfMessages", 10)
    response = conn.sqs.receive_message(
        QueueUrl=url, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"], **kwargs
    )
    return response.get("Messages", [])


def _counters(conn: Connection, url: str) -> dict[str, str]:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    by_name = conn.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    every = conn.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert by_name == {name: every[name] for name in names}
    return by_name


def test_visibility_timeout_lapse_redelivers(fastpath: bool, conn: Connection) -> None:
    url = _queue(conn, "lapse")
    conn.sqs.send_message(QueueUrl=url, MessageBody="hello")

    [first] = _receive(conn, url, VisibilityTimeout=1)
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert _receive(conn, url) == []

    time.sleep(LAPSE)
    [again] = _receive(conn, url, VisibilityTimeout=1)
    assert again["MessageId"] == first["MessageId"]
    assert again["Body"] == "hello"
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert (
        again["Attributes"]["ApproximateFirstReceiveTimestamp"]
        == (first["Attributes"]["ApproximateFirstReceiveTimestamp"])
    )
    assert again["ReceiptHandle"] != first["ReceiptHandle"]


def test_change_message_visibility(fastpath: bool, conn: Connection) -> None:
    url = _queue(conn, "visibility")
    conn.sqs.send_message(QueueUrl=url, MessageBody="m")

    [held] = _receive(conn, url, VisibilityTimeout=30)
    conn.sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=held["ReceiptHandle"], VisibilityTimeout=0
    )
    [released] = _receive(conn, url, VisibilityTimeout=1)
    assert released["MessageId"] == held["MessageId"]
    assert released["Attributes"]["ApproximateReceiveCount"] == "2"

    conn.sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=released["ReceiptHandle"], VisibilityTimeout=30
    )
    time.sleep(LAPSE)
    assert _receive(conn, url) == []
    assert _counters(conn, url)["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_delay_seconds(fastpath: bool, conn: Connection) -> None:
    url = _queue(conn, "delay")
    conn.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)

    assert _receive(conn, url) == []
    assert _counters(conn, url)["ApproximateNumberOfMessagesDelayed"] == "1"
    time.sleep(LAPSE)
    [message] = _receive(conn, url)
    assert message["Body"] == "later"


def test_approximate_counters(fastpath: bool, conn: Connection) -> None:
    url = _queue(conn, "counters")
    assert _counters(conn, url) == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
        "ApproximateNumberOfMessagesDelayed": "0",
    }
    for body in ("a", "b", "c"):
        conn.sqs.send_message(QueueUrl=url, MessageBody=body)
    conn.sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=60)
    _receive(conn, url, MaxNumberOfMessages=1, VisibilityTimeout=30)

    assert _counters(conn, url) == {
        "ApproximateNumberOfMessages": "2",
        "ApproximateNumberOfMessagesNotVisible": "1",
        "ApproximateNumberOfMessagesDelayed": "1",
    }


def test_dead_letter_queue_move_at_max_receive_count(fastpath: bool, conn: Connection) -> None:
    dlq = _queue(conn, "dead")
    redrive = json.dumps({"deadLetterTargetArn": _arn(conn, dlq), "maxReceiveCount": 2})
    url = _queue(conn, "source", RedrivePolicy=redrive)
    conn.sqs.send_message(QueueUrl=url, MessageBody="poison")

    # VisibilityTimeout=0 leaves the message visible, so no waiting is needed.
    counts = [
        m["Attributes"]["ApproximateReceiveCount"]
        for _ in range(2)
        for m in _receive(conn, url, VisibilityTimeout=0)
    ]
    assert counts == ["1", "2"]
    assert _receive(conn, url, VisibilityTimeout=0) == []  # moved on this receive

    [moved] = _receive(conn, dlq)
    assert moved["Body"] == "poison"
    assert moved["Attributes"]["ApproximateReceiveCount"] == "3"
    assert _counters(conn, url)["ApproximateNumberOfMessages"] == "0"
    dead_sources = conn.sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    assert [source.rsplit("/", 1)[1] for source in dead_sources] == ["source"]


def test_fifo_order_per_group(fastpath: bool, conn: Connection) -> None:
    url = _queue(conn, "order.fifo", FifoQueue="true")
    sent = [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2"), ("a", "a3")]
    for number, (group, body) in enumerate(sent):
        conn.sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageGroupId=group,
            MessageDeduplicationId=f"d{number}",
        )
    received = _receive(conn, url)
    by_group: dict[str, list[str]] = {}
    for message in received:
        by_group.setdefault(message["Attributes"]["MessageGroupId"], []).append(message["Body"])
    assert by_group == {"a": ["a1", "a2", "a3"], "b": ["b1", "b2"]}
    numbers = [int(m["Attributes"]["SequenceNumber"]) for m in received]
    assert all(number > 0 for number in numbers)


def test_fifo_group_blocked_while_in_flight(fastpath: bool, conn: Connection) -> None:
    url = _queue(conn, "blocking.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    conn.sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="a")
    conn.sqs.send_message(QueueUrl=url, MessageBody="a2", MessageGroupId="a")

    [a1] = _receive(conn, url, MaxNumberOfMessages=1, VisibilityTimeout=30)
    assert a1["Body"] == "a1"
    assert _receive(conn, url) == []  # group a waits for a1
    conn.sqs.send_message(QueueUrl=url, MessageBody="b1", MessageGroupId="b")
    assert [m["Body"] for m in _receive(conn, url, VisibilityTimeout=30)] == ["b1"]

    conn.sqs.delete_message(QueueUrl=url, ReceiptHandle=a1["ReceiptHandle"])
    assert [m["Body"] for m in _receive(conn, url)] == ["a2"]


def test_fifo_deduplication(fastpath: bool, conn: Connection) -> None:
    explicit = _queue(conn, "explicit.fifo", FifoQueue="true")
    for body in ("first", "second"):
        conn.sqs.send_message(
            QueueUrl=explicit, MessageBody=body, MessageGroupId="g", MessageDeduplicationId="same"
        )
    assert [m["Body"] for m in _receive(conn, explicit)] == ["first"]

    content = _queue(conn, "content.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    for body in ("same", "same", "other"):
        conn.sqs.send_message(QueueUrl=content, MessageBody=body, MessageGroupId="g")
    assert [m["Body"] for m in _receive(conn, content)] == ["same", "other"]


def test_delete_with_old_receipt_handle(fastpath: bool, conn: Connection) -> None:
    url = _queue(conn, "handles")
    conn.sqs.send_message(QueueUrl=url, MessageBody="m")
    [first] = _receive(conn, url, VisibilityTimeout=0)
    [second] = _receive(conn, url, VisibilityTimeout=0)
    assert first["ReceiptHandle"] != second["ReceiptHandle"]

    conn.sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert _receive(conn, url) == []
    assert _counters(conn, url)["ApproximateNumberOfMessages"] == "0"
    # Deleting again, with either handle, still succeeds.
    conn.sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    conn.sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    with pytest.raises(ClientError) as caught:
        conn.sqs.delete_message(QueueUrl=url, ReceiptHandle="x" * 185)
    assert caught.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"


def _fetch_signing_certificate(conn: Connection, cert_url: str) -> x509.Certificate:
    """GET the certificate from the moto server, signed as the SNS endpoint it names."""
    request = AWSRequest(method="GET", url=f"{conn.endpoint_url}{urlsplit(cert_url).path}")
    SigV4Auth(Credentials("flowdash", "flowdash"), "sns", conn.config.region).add_auth(request)
    with urllib.request.urlopen(
        urllib.request.Request(request.url, headers=dict(request.headers)), timeout=10
    ) as response:
        return x509.load_pem_x509_certificate(response.read())


def test_sns_envelope_signature_verifies(fastpath: bool, conn: Connection) -> None:
    topic = conn.sns.create_topic(Name="signed")["TopicArn"]
    queues = [_queue(conn, f"signed-{n}") for n in range(2)]
    for url in queues:
        conn.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=_arn(conn, url))
    message_id = conn.sns.publish(TopicArn=topic, Message="payload")["MessageId"]

    for url in queues:
        [delivered] = _receive(conn, url)
        envelope = json.loads(delivered["Body"])
        assert set(envelope) == {
            "Type",
            "MessageId",
            "TopicArn",
            "Message",
            "Timestamp",
            "SignatureVersion",
            "Signature",
            "SigningCertURL",
            "UnsubscribeURL",
        }
        assert (envelope["Type"], envelope["MessageId"], envelope["TopicArn"]) == (
            "Notification",
            message_id,
            topic,
        )
        assert envelope["SignatureVersion"] == "2"
        assert envelope["SigningCertURL"].startswith("https://sns.us-east-1.amazonaws.com/")
        # AWS's string to sign for a Notification without a Subject.
        signed = "".join(
            f"{field}\n{envelope[field]}\n"
            for field in ("Message", "MessageId", "Timestamp", "TopicArn", "Type")
        )
        certificate = _fetch_signing_certificate(conn, envelope["SigningCertURL"])
        certificate.public_key().verify(  # type: ignore[union-attr,call-arg]
            base64.b64decode(envelope["Signature"]),
            signed.encode("utf-8"),
            padding.PKCS1v15(),  # type: ignore[arg-type]
            hashes.SHA256(),  # type: ignore[arg-type]
        )


def test_sns_envelope_carries_subject_and_attributes(fastpath: bool, conn: Connection) -> None:
    topic = conn.sns.create_topic(Name="fields")["TopicArn"]
    url = _queue(conn, "fields")
    conn.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=_arn(conn, url))
    conn.sns.publish(
        TopicArn=topic,
        Message="m",
        Subject="hello",
        MessageAttributes={"color": {"DataType": "String", "StringValue": "red"}},
    )
    [delivered] = _receive(conn, url)
    envelope = json.loads(delivered["Body"])
    assert envelope["Subject"] == "hello"
    assert envelope["MessageAttributes"] == {"color": {"Type": "String", "Value": "red"}}


def test_filter_policy_and_raw_delivery(fastpath: bool, conn: Connection) -> None:
    topic = conn.sns.create_topic(Name="filtered")["TopicArn"]
    raw_url, all_url = _queue(conn, "raw-red"), _queue(conn, "everything")
    raw = conn.sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=_arn(conn, raw_url),
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"color": ["red"]})},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    conn.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=_arn(conn, all_url))
    assert (
        conn.sns.get_subscription_attributes(SubscriptionArn=raw)["Attributes"]["FilterPolicyScope"]
        == "MessageAttributes"
    )

    for color in ("red", "blue"):
        conn.sns.publish(
            TopicArn=topic,
            Message=f"{color} body",
            MessageAttributes={"color": {"DataType": "String", "StringValue": color}},
        )

    [red] = _receive(conn, raw_url)
    assert red["Body"] == "red body"
    assert red["MessageAttributes"] == {"color": {"StringValue": "red", "DataType": "String"}}
    enveloped = [json.loads(m["Body"]) for m in _receive(conn, all_url)]
    assert sorted(e["Message"] for e in enveloped) == ["blue body", "red body"]
