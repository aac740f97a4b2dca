"""Publishing, sending and peeking against a real moto server over HTTP."""

from __future__ import annotations

import base64

import pytest

from messaging import publishing, resources, subscriptions
from messaging.connection import Connection
from messaging.errors import InvalidInput
from messaging.validation import SNS_MAX_MESSAGE_BYTES, SQS_MAX_MESSAGE_BYTES, MessageAttribute


def depth(conn: Connection, url: str) -> tuple[int, int, int]:
    d = resources.queue_get(conn, url=url).depth
    return d.visible, d.in_flight, d.delayed


@pytest.fixture
def fanout(conn: Connection) -> tuple[resources.Topic, resources.Queue]:
    topic = resources.topic_create(conn, name="orders")
    queue = resources.queue_create(conn, name="billing")
    subscriptions.subscription_create(conn, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn)
    return topic, queue


def test_publish_with_typed_attributes_reaches_the_queue_in_an_envelope(
    conn: Connection, fanout: tuple[resources.Topic, resources.Queue]
) -> None:
    topic, queue = fanout
    attributes = [
        MessageAttribute(name="region", type="String", value="eu-west-1"),
        MessageAttribute(name="amount", type="Number", value="150.5"),
        MessageAttribute(name="tags", type="String.Array", value='["a", "b"]'),
        MessageAttribute(name="blob", type="Binary", value=base64.b64encode(b"\x00\x01").decode()),
    ]
    result = publishing.topic_publish(
        conn, topic_arn=topic.arn, body='{"order": 1}', subject="New order", attributes=attributes
    )
    (message,) = publishing.queue_receive(conn, queue_url=queue.url, visibility_timeout=30)
    assert message.receive_count == 1
    envelope = message.envelope
    assert envelope is not None
    assert envelope.message_id == result.message_id
    assert envelope.topic_arn == topic.arn
    assert envelope.subject == "New order"
    assert envelope.message == '{"order": 1}'
    assert envelope.message_attributes["region"] == {"Type": "String", "Value": "eu-west-1"}
    assert envelope.message_attributes["amount"]["Type"] == "Number"
    assert depth(conn, queue.url) == (0, 1, 0)
    publishing.message_release(conn, queue_url=queue.url, receipt_handle=message.receipt_handle)
    assert depth(conn, queue.url) == (1, 0, 0)
    (again,) = publishing.queue_receive(conn, queue_url=queue.url)
    assert again.receive_count == 2
    publishing.message_delete(conn, queue_url=queue.url, receipt_handle=again.receipt_handle)
    assert depth(conn, queue.url) == (0, 0, 0)


def test_send_to_queue_with_attributes(conn: Connection) -> None:
    queue = resources.queue_create(conn, name="work")
    publishing.queue_send(
        conn,
        queue_url=queue.url,
        body="hello",
        attributes=[MessageAttribute(name="n", type="Number", value="3")],
    )
    (message,) = publishing.queue_receive(conn, queue_url=queue.url)
    assert message.body == "hello" and message.envelope is None
    assert [(a.name, a.type, a.value) for a in message.message_attributes] == [("n", "Number", "3")]


def test_fifo_send_needs_a_group_id_and_keeps_order(conn: Connection) -> None:
    queue = resources.queue_create(
        conn, name="jobs.fifo", fifo=True, content_based_deduplication=True
    )
    with pytest.raises(InvalidInput) as info:
        publishing.queue_send(conn, queue_url=queue.url, body="x")
    assert info.value.field == "message_group_id"
    assert info.value.message == "A FIFO queue needs a message group id."
    for n in range(3):
        publishing.queue_send(conn, queue_url=queue.url, body=f"m{n}", message_group_id="g")
    publishing.queue_send(
        conn, queue_url=queue.url, body="m0", message_group_id="g"
    )  # deduplicated
    received = publishing.queue_receive(conn, queue_url=queue.url)
    assert [m.body for m in received] == ["m0", "m1", "m2"]
    assert {m.message_group_id for m in received} == {"g"}


def test_fifo_topic_without_group_id_or_dedup(conn: Connection) -> None:
    topic = resources.topic_create(conn, name="events.fifo", fifo=True)
    with pytest.raises(InvalidInput) as info:
        publishing.topic_publish(conn, topic_arn=topic.arn, body="x")
    assert info.value.field == "message_group_id"
    with pytest.raises(InvalidInput) as info:
        publishing.topic_publish(conn, topic_arn=topic.arn, body="x", message_group_id="g")
    assert info.value.field == "deduplication_id"
    assert "content-based deduplication" in info.value.message
    result = publishing.topic_publish(
        conn, topic_arn=topic.arn, body="x", message_group_id="g", deduplication_id="d1"
    )
    assert result.message_id


def test_oversize_messages(
    conn: Connection, fanout: tuple[resources.Topic, resources.Queue]
) -> None:
    topic, queue = fanout
    with pytest.raises(InvalidInput) as info:
        publishing.topic_publish(conn, topic_arn=topic.arn, body="x" * (SNS_MAX_MESSAGE_BYTES + 1))
    assert info.value.field == "body"
    assert "the limit is 262,144 bytes (256 KiB)" in info.value.message
    # Attributes count towards the size.
    with pytest.raises(InvalidInput):
        publishing.topic_publish(
            conn,
            topic_arn=topic.arn,
            body="x" * (SNS_MAX_MESSAGE_BYTES - 10),
            attributes=[MessageAttribute(name="pad", type="String", value="y" * 20)],
        )
    with pytest.raises(InvalidInput) as info:
        publishing.queue_send(conn, queue_url=queue.url, body="x" * (SQS_MAX_MESSAGE_BYTES + 1))
    assert "1,048,576 bytes (1024 KiB)" in info.value.message
    publishing.queue_send(conn, queue_url=queue.url, body="x" * SQS_MAX_MESSAGE_BYTES)
    assert depth(conn, queue.url) == (1, 0, 0)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ([MessageAttribute(name="n", type="Number", value="abc")], "is not a number"),
        ([MessageAttribute(name="a", type="String.Array", value="nope")], "JSON array"),
        ([MessageAttribute(name="b", type="Binary", value="***")], "base64"),
        ([MessageAttribute(name="AWS.x", type="String", value="v")], "reserved"),
        ([MessageAttribute(name="t", type="Text", value="v")], "use one of"),
        (
            [MessageAttribute(name=f"a{i}", type="String", value="v") for i in range(11)],
            "at most 10 attributes",
        ),
    ],
)
def test_bad_attributes(
    conn: Connection,
    fanout: tuple[resources.Topic, resources.Queue],
    attributes: list[MessageAttribute],
    message: str,
) -> None:
    topic, queue = fanout
    with pytest.raises(InvalidInput) as info:
        publishing.topic_publish(conn, topic_arn=topic.arn, body="x", attributes=attributes)
    assert info.value.field == "attributes"
    assert message in info.value.message
    assert depth(conn, queue.url) == (0, 0, 0)


def test_empty_body_and_bad_subject(
    conn: Connection, fanout: tuple[resources.Topic, resources.Queue]
) -> None:
    topic, _ = fanout
    with pytest.raises(InvalidInput) as info:
        publishing.topic_publish(conn, topic_arn=topic.arn, body="")
    assert info.value.field == "body"
    with pytest.raises(InvalidInput) as info:
        publishing.topic_publish(conn, topic_arn=topic.arn, body="x", subject="two\nlines")
    assert info.value.field == "subject"
