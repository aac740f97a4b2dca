"""Publishing to topics, sending to queues, and peeking into queues.

Input is checked against SNS/SQS's limits first (`validation`), so an oversize
message or a FIFO send without a group id gets a message naming the field
instead of whatever the backend says. Peeking is a real ReceiveMessage: it
hides the messages for the chosen visibility timeout and raises their receive
count, which is why the dashboard only does it when a user asks.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .connection import Connection
from .envelope import SnsEnvelope, envelope_parse
from .errors import InvalidInput, aws_errors
from .resources import arn_name, ownership_check
from .validation import (
    BATCH_MAX,
    DELAY_SECONDS_MAX,
    FIFO_SUFFIX,
    SNS_MAX_MESSAGE_BYTES,
    SQS_MAX_MESSAGE_BYTES,
    VISIBILITY_TIMEOUT_MAX,
    MessageAttribute,
    body_validate,
    fifo_ids_validate,
    int_in_range,
    message_attributes_validate,
    subject_validate,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    message_id: str
    sequence_number: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_timestamp: int | None
    message_group_id: str | None = None
    system_attributes: dict[str, str] = field(default_factory=dict)
    message_attributes: list[MessageAttribute] = field(default_factory=list)
    envelope: SnsEnvelope | None = None


def topic_publish(
    conn: Connection,
    *,
    topic_arn: str,
    body: str,
    subject: str | None = None,
    attributes: Iterable[MessageAttribute] = (),
    message_group_id: str | None = None,
    deduplication_id: str | None = None,
) -> PublishResult:
    conn.write_check()
    ownership_check(conn, arn_name(topic_arn))
    attrs = message_attributes_validate(attributes)
    body_validate(body, limit=SNS_MAX_MESSAGE_BYTES, attributes=attrs)
    subject_validate(subject)
    fifo = topic_arn.endswith(FIFO_SUFFIX)
    fifo_ids_validate(
        fifo=fifo,
        message_group_id=message_group_id,
        deduplication_id=deduplication_id,
        content_based_deduplication=fifo and not deduplication_id and _topic_cbd(conn, topic_arn),
        kind="topic",
    )
    kwargs: dict[str, Any] = {
        "TopicArn": topic_arn,
        "Message": body,
        **message_options(attrs, message_group_id, deduplication_id),
    }
    if subject:
        kwargs["Subject"] = subject
    with aws_errors(field="body"):
        response = conn.sns.publish(**kwargs)
    return PublishResult(
        message_id=response["MessageId"], sequence_number=response.get("SequenceNumber")
    )


def queue_send(
    conn: Connection,
    *,
    queue_url: str,
    body: str,
    attributes: Iterable[MessageAttribute] = (),
    delay_seconds: int | None = None,
    message_group_id: str | None = None,
    deduplication_id: str | None = None,
) -> PublishResult:
    conn.write_check()
    ownership_check(conn, _queue_name(queue_url))
    attrs = message_attributes_validate(attributes)
    body_validate(body, limit=SQS_MAX_MESSAGE_BYTES, attributes=attrs)
    fifo = queue_url.endswith(FIFO_SUFFIX)
    if fifo and delay_seconds:
        raise InvalidInput(
            "FIFO queues take no per-message delay; set the queue's delay instead.",
            field="delay_seconds",
        )
    int_in_range(
        delay_seconds,
        field="delay_seconds",
        low=0,
        high=DELAY_SECONDS_MAX,
        what="The delay (seconds)",
    )
    fifo_ids_validate(
        fifo=fifo,
        message_group_id=message_group_id,
        deduplication_id=deduplication_id,
        content_based_deduplication=fifo and not deduplication_id and _queue_cbd(conn, queue_url),
        kind="queue",
    )
    kwargs: dict[str, Any] = {
        "QueueUrl": queue_url,
        "MessageBody": body,
        **message_options(attrs, message_group_id, deduplication_id),
    }
    if delay_seconds:
        kwargs["DelaySeconds"] = delay_seconds
    with aws_errors(field="body"):
        response = conn.sqs.send_message(**kwargs)
    conn.notify("message.sent", queue_url=queue_url, message_id=response["MessageId"], body=body)
    return PublishResult(
        message_id=response["MessageId"], sequence_number=response.get("SequenceNumber")
    )


def queue_receive(
    conn: Connection,
    *,
    queue_url: str,
    max_messages: int = BATCH_MAX,
    visibility_timeout: int | None = None,
    wait_seconds: int = 0,
) -> list[ReceivedMessage]:
    conn.write_check()
    ownership_check(conn, _queue_name(queue_url))
    int_in_range(max_messages, field="max_messages", low=1, high=BATCH_MAX, what="Messages")
    int_in_range(
        visibility_timeout,
        field="visibility_timeout",
        low=0,
        high=VISIBILITY_TIMEOUT_MAX,
        what="The visibility timeout (seconds)",
    )
    kwargs: dict[str, Any] = {
        "QueueUrl": queue_url,
        "MaxNumberOfMessages": max_messages,
        "WaitTimeSeconds": wait_seconds,
        "MessageAttributeNames": ["All"],
        "MessageSystemAttributeNames": ["All"],
    }
    if visibility_timeout is not None:
        kwargs["VisibilityTimeout"] = visibility_timeout
    with aws_errors(field="queue"):
        response = conn.sqs.receive_message(**kwargs)
    return [received_message(m) for m in response.get("Messages", [])]


def message_delete(conn: Connection, *, queue_url: str, receipt_handle: str) -> None:
    conn.write_check()
    ownership_check(conn, _queue_name(queue_url))
    with aws_errors(field="receipt_handle"):
        conn.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt_handle)


def message_release(conn: Connection, *, queue_url: str, receipt_handle: str) -> None:
    """Make a received message visible again at once, for the next consumer."""
    conn.write_check()
    ownership_check(conn, _queue_name(queue_url))
    with aws_errors(field="receipt_handle"):
        conn.sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0
        )


def message_options(
    attributes: Iterable[MessageAttribute], group_id: str | None, deduplication_id: str | None
) -> dict[str, Any]:
    """The parameters SNS Publish and SQS SendMessage (and their batch entries) share."""
    options: dict[str, Any] = {}
    if attrs := {a.name: a.to_aws() for a in attributes}:
        options["MessageAttributes"] = attrs
    if group_id:
        options["MessageGroupId"] = group_id
    if deduplication_id:
        options["MessageDeduplicationId"] = deduplication_id
    return options


def received_message(message: dict[str, Any]) -> ReceivedMessage:
    """A boto3 ReceiveMessage entry as Flowdash's own type, envelope parsed."""
    system = message.get("Attributes", {})
    attributes = []
    for name, value in message.get("MessageAttributes", {}).items():
        data_type = value.get("DataType", "String")
        if "BinaryValue" in value:
            text = base64.b64encode(value["BinaryValue"]).decode()
        else:
            text = value.get("StringValue", "")
        attributes.append(MessageAttribute(name=name, type=data_type, value=text))
    sent = system.get("SentTimestamp")
    return ReceivedMessage(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        body=message["Body"],
        receive_count=int(system.get("ApproximateReceiveCount", 1)),
        sent_timestamp=int(sent) if sent else None,
        message_group_id=system.get("MessageGroupId"),
        system_attributes=system,
        message_attributes=attributes,
        envelope=envelope_parse(message["Body"]),
    )


def _queue_name(queue_url: str) -> str:
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def _topic_cbd(conn: Connection, topic_arn: str) -> bool:
    with aws_errors(field="topic"):
        attrs = conn.sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    return attrs.get("ContentBasedDeduplication") == "true"


def _queue_cbd(conn: Connection, queue_url: str) -> bool:
    with aws_errors(field="queue"):
        attrs = conn.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ContentBasedDeduplication"]
        )["Attributes"]
    return attrs.get("ContentBasedDeduplication") == "true"
