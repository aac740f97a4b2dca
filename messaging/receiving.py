"""Receiving from queues as a consumer does: receive, delete, release.

A receive is a real ReceiveMessage: it hides the messages for the chosen
visibility timeout and raises their receive count (moving them toward the
dead-letter queue), which is why the dashboard only does it when a user asks.
``received_message`` turns boto3's answer into Flowdash's own type, for every
consumer: the API, the workers, the watcher's tap queues and participants.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .connection import Connection
from .envelope import SnsEnvelope, envelope_parse
from .errors import aws_errors
from .resources import ownership_check, url_name
from .validation import BATCH_MAX, VISIBILITY_TIMEOUT_MAX, MessageAttribute, int_in_range


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


def queue_receive(
    conn: Connection,
    *,
    queue_url: str,
    max_messages: int = BATCH_MAX,
    visibility_timeout: int | None = None,
    wait_seconds: int = 0,
) -> list[ReceivedMessage]:
    conn.write_check()
    ownership_check(conn, url_name(queue_url))
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
    ownership_check(conn, url_name(queue_url))
    with aws_errors(field="receipt_handle"):
        conn.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt_handle)


def message_release(conn: Connection, *, queue_url: str, receipt_handle: str) -> None:
    """Make a received message visible again at once, for the next consumer."""
    conn.write_check()
    ownership_check(conn, url_name(queue_url))
    with aws_errors(field="receipt_handle"):
        conn.sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0
        )


def received_message(message: Mapping[str, Any]) -> ReceivedMessage:
    """A boto3 ReceiveMessage entry as Flowdash's own type, envelope parsed.

    Also takes one kept as JSON (a classroom's held message, a relayed frame).
    """
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
