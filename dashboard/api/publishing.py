"""Putting messages in: publish to a topic, send to a queue, one at a time, in batches
of up to 10, or as a background burst."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from messaging import publishing, resources
from messaging.burst import Burst
from messaging.publishing import BatchEntry
from messaging.validation import BATCH_MAX

from .. import permissions, services
from ..backend import connection
from .errors import ERRORS
from .schemas import AttributeIn, message_attributes

router = Router(tags=["messages"])


class PublishIn(Schema):
    body: str
    subject: str | None = None
    attributes: list[AttributeIn] = []
    message_group_id: str | None = None
    deduplication_id: str | None = None


class SendIn(Schema):
    body: str
    attributes: list[AttributeIn] = []
    delay_seconds: int | None = None
    message_group_id: str | None = None
    deduplication_id: str | None = None


class PublishOut(Schema):
    message_id: str
    sequence_number: str | None


class PublishEntryIn(Schema):
    id: str = Field(description="Unique in the batch: 1-80 letters, digits, '-' and '_'")
    body: str
    subject: str | None = None
    attributes: list[AttributeIn] = []
    message_group_id: str | None = None
    deduplication_id: str | None = None


class SendEntryIn(Schema):
    id: str = Field(description="Unique in the batch: 1-80 letters, digits, '-' and '_'")
    body: str
    attributes: list[AttributeIn] = []
    delay_seconds: int | None = None
    message_group_id: str | None = None
    deduplication_id: str | None = None


class PublishBatchIn(Schema):
    entries: list[PublishEntryIn] = Field(description="1 to 10 messages")


class SendBatchIn(Schema):
    entries: list[SendEntryIn] = Field(description="1 to 10 messages")


class BatchSentOut(Schema):
    id: str
    message_id: str
    sequence_number: str | None


class BatchFailedOut(Schema):
    id: str
    code: str
    message: str
    field: str | None
    sender_fault: bool


class BatchOut(Schema):
    successful: list[BatchSentOut]
    failed: list[BatchFailedOut]


class BurstIn(Schema):
    count: int = Field(10, description="How many messages (1-10,000)")
    rate: float = Field(5.0, description="Messages per second (0.1-1,000)")
    body_template: str = Field("message {{n}}", description="{{n}} is the message's number")
    attributes: list[AttributeIn] = []
    message_group_id: str | None = None


class BurstOut(Schema):
    accepted: int


@router.post("/topics/{arn}/publish", response={200: PublishOut, **ERRORS})
def topic_publish(request: HttpRequest, arn: str, payload: PublishIn) -> Any:
    permissions.publish_check(request.user)
    return publishing.topic_publish(
        connection(),
        topic_arn=arn,
        body=payload.body,
        subject=payload.subject,
        attributes=message_attributes(payload.attributes),
        message_group_id=payload.message_group_id,
        deduplication_id=payload.deduplication_id,
    )


@router.post("/topics/{arn}/publish-batch", response={200: BatchOut, **ERRORS})
def topic_publish_batch(request: HttpRequest, arn: str, payload: PublishBatchIn) -> Any:
    """PublishBatch: up to 10 messages in one request. Answers 200 with each entry under
    ``successful`` or ``failed`` (with the reason), as SNS does; the batch as a whole
    (count, ids, total size) is checked first and refused with a 400."""
    permissions.publish_check(request.user, count=min(len(payload.entries), BATCH_MAX))
    entries = [
        BatchEntry(
            id=e.id,
            body=e.body,
            subject=e.subject,
            attributes=tuple(message_attributes(e.attributes)),
            message_group_id=e.message_group_id,
            deduplication_id=e.deduplication_id,
        )
        for e in payload.entries
    ]
    return publishing.topic_publish_batch(connection(), topic_arn=arn, entries=entries)


@router.post("/queues/{arn}/messages", response={200: PublishOut, **ERRORS})
def queue_send(request: HttpRequest, arn: str, payload: SendIn) -> Any:
    permissions.publish_check(request.user)
    return services.queue_send(
        queue_arn=arn,
        body=payload.body,
        attributes=message_attributes(payload.attributes),
        delay_seconds=payload.delay_seconds,
        message_group_id=payload.message_group_id,
        deduplication_id=payload.deduplication_id,
    )


@router.post("/queues/{arn}/messages/batch", response={200: BatchOut, **ERRORS})
def queue_send_batch(request: HttpRequest, arn: str, payload: SendBatchIn) -> Any:
    """SendMessageBatch: up to 10 messages in one request. Answers 200 with each entry
    under ``successful`` or ``failed`` (with the reason), as SQS does; the batch as a
    whole (count, ids, total size) is checked first and refused with a 400."""
    permissions.publish_check(request.user, count=min(len(payload.entries), BATCH_MAX))
    entries = [
        BatchEntry(
            id=e.id,
            body=e.body,
            attributes=tuple(message_attributes(e.attributes)),
            delay_seconds=e.delay_seconds,
            message_group_id=e.message_group_id,
            deduplication_id=e.deduplication_id,
        )
        for e in payload.entries
    ]
    return services.queue_send_batch(queue_arn=arn, entries=entries)


@router.post("/topics/{arn}/burst", response={202: BurstOut, **ERRORS})
def topic_burst(request: HttpRequest, arn: str, payload: BurstIn) -> Any:
    """Publish ``count`` messages at ``rate`` per second, in the background."""
    permissions.staff_check(request.user)
    resources.topic_get(connection(), arn=arn)
    return _burst(payload, topic_arn=arn)


@router.post("/queues/{arn}/burst", response={202: BurstOut, **ERRORS})
def queue_burst(request: HttpRequest, arn: str, payload: BurstIn) -> Any:
    """Send ``count`` messages at ``rate`` per second straight to the queue, in the background."""
    permissions.staff_check(request.user)
    return _burst(payload, queue_url=resources.queue_url(connection(), arn=arn))


def _burst(payload: BurstIn, **target: str) -> Any:
    burst = Burst(
        count=payload.count, rate=payload.rate, body_template=payload.body_template,
        attributes=tuple(message_attributes(payload.attributes)),
        message_group_id=payload.message_group_id, **target,
    )  # fmt: skip
    return Status(202, {"accepted": services.burst_start(burst=burst).count})
