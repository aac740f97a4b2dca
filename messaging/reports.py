"""What the embedded broker reports: one record per state change, whoever made it.

The hooks in ``messaging.embedded.broker`` build these inside moto's request
threads, so they are small, flat and cheap: no lookups, no formatting, just the
values at hand. The embedded observer (``messaging.observer``) turns them into
flow events on the engine's loop. Nothing here knows moto.

``client`` names who made the request, by what can be known: the first product
token of its user agent (``aws-cli/1.42.3``, ``Boto3/1.44.8``), or ``flowdash``
for Flowdash's own clients, whose workers and participants report their own
receives and outcomes with more detail (worker name, processing time, failure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The client name of Flowdash's own boto3 clients (their user agent carries it).
FLOWDASH_CLIENT = "flowdash"


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    ts: float
    client: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceReport(Report):
    kind: str  #: topic, queue, subscription, application, endpoint
    action: str  #: created, changed, deleted, purged
    arn: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicPublished(Report):
    topic_arn: str
    message_id: str
    subject: str | None
    body: str
    #: ``{name: {"Type": ..., "Value": ...}}``, as SNS envelopes spell them.
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    group_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyFiltered(Report):
    """A subscription's policy kept a publication out; ``reason`` is the decision taken."""

    topic_arn: str
    message_id: str
    subscription_arn: str
    protocol: str
    endpoint: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyDelivered(Report):
    """A publication reached a non-SQS endpoint (SQS copies are ``MessageSent`` with
    ``via_topic``: they are reported once they are in the queue)."""

    topic_arn: str
    message_id: str
    subscription_arn: str
    protocol: str
    endpoint: str
    #: What the endpoint received, where the broker knows it and it may differ from the
    #: publication (a device's platform payload of a ``MessageStructure=json`` message).
    body: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyFailed(Report):
    """The broker could not hand a publication to a subscription's endpoint."""

    topic_arn: str
    message_id: str
    subscription_arn: str
    endpoint: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSent(Report):
    """A message entered a queue: sent straight to it, or a topic's copy (``via_topic``)."""

    queue_arn: str
    message_id: str
    body: str
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    group_id: str | None = None
    delay_seconds: int = 0
    #: The queue's MessageRetentionPeriod when it was sent: when it expires, unless consumed.
    retention_seconds: int = 345_600
    #: For a topic's copy: (topic ARN, the publication's MessageId, subscription ARN).
    via_topic: tuple[str, str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeduplicated(Report):
    """A FIFO send the queue accepted and dropped: its deduplication id was seen
    within the deduplication interval."""

    queue_arn: str
    message_id: str  #: what the sender was told
    duplicate_of: str  #: the message already in the queue
    deduplication_id: str
    via_topic: tuple[str, str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived(Report):
    queue_arn: str
    message_id: str
    receipt_handle: str
    receive_count: int
    #: When the message becomes visible again unless deleted or changed, epoch ms.
    visible_at_ms: float
    group_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeleted(Report):
    queue_arn: str
    receipt_handle: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VisibilitySet(Report):
    queue_arn: str
    receipt_handle: str
    timeout_seconds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeadLettered(Report):
    """The broker moved a message from its queue to the queue's DLQ, at that moment."""

    queue_arn: str
    dead_letter_arn: str
    message_id: str
    receive_count: int


def report_attributes(attributes: dict[str, Any] | None) -> dict[str, dict[str, str]]:
    """SQS (``DataType``/``StringValue``) or SNS (``Type``/``Value``) attributes, in
    the SNS envelope's spelling that flow events use."""
    result: dict[str, dict[str, str]] = {}
    for name, a in (attributes or {}).items():
        value = a.get("Value", a.get("StringValue", a.get("BinaryValue", "")))
        result[name] = {
            "Type": str(a.get("Type", a.get("DataType", "String"))),
            "Value": str(value),
        }
    return result
