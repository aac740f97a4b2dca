"""Publishing to topics and sending to queues, one message or a batch.

Input is checked against SNS/SQS's limits first (`validation`), so an oversize
message or a FIFO send without a group id gets a message naming the field
instead of whatever the backend says.

The batch calls (PublishBatch, SendMessageBatch: up to 10 messages) check each
entry as the single calls do and fail only the bad entries, as AWS does; they
exist because over HTTP one request costs more than one message (the JSON
API's per-request floor is several milliseconds), so ten per request is what a
script that sends a lot should use.

Receiving (receive, delete, release, ``received_message``) lives in
``receiving``; its names are re-exported here because the workers, the watcher,
the flow bus and the pages still take them from this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .connection import Connection
from .errors import FlowdashError, InvalidInput, aws_errors
from .receiving import ReceivedMessage as ReceivedMessage
from .receiving import message_delete as message_delete
from .receiving import message_release as message_release
from .receiving import queue_receive as queue_receive
from .receiving import received_message as received_message
from .resources import (
    arn_name,
    ownership_check,
    queue_content_deduplication,
    resource_cache,
    topic_content_deduplication,
    url_name,
)
from .validation import (
    BATCH_MAX,
    DELAY_SECONDS_MAX,
    FIFO_SUFFIX,
    SNS_MAX_MESSAGE_BYTES,
    SQS_MAX_MESSAGE_BYTES,
    MessageAttribute,
    body_validate,
    fifo_ids_validate,
    int_in_range,
    message_attributes_validate,
    subject_validate,
)

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import (
        PublishBatchRequestEntryTypeDef,
        PublishBatchResponseTypeDef,
    )
    from mypy_boto3_sqs.type_defs import (
        SendMessageBatchRequestEntryTypeDef,
        SendMessageBatchResultTypeDef,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    message_id: str
    sequence_number: str | None = None


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
    params, _ = _topic_message(
        conn,
        topic_arn,
        body=body,
        subject=subject,
        attributes=attributes,
        message_group_id=message_group_id,
        deduplication_id=deduplication_id,
    )
    fifo = topic_arn.endswith(FIFO_SUFFIX)
    with _forget_on_error(conn, topic_arn, fifo), aws_errors(field="body"):
        response = conn.sns.publish(TopicArn=topic_arn, **params)
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
    ownership_check(conn, url_name(queue_url))
    params, _ = _queue_message(
        conn,
        queue_url,
        body=body,
        attributes=attributes,
        delay_seconds=delay_seconds,
        message_group_id=message_group_id,
        deduplication_id=deduplication_id,
    )
    fifo = queue_url.endswith(FIFO_SUFFIX)
    with _forget_on_error(conn, queue_url, fifo), aws_errors(field="body"):
        response = conn.sqs.send_message(QueueUrl=queue_url, **params)
    conn.notify(
        "messages.sent", queue_url=queue_url,
        messages=[{"message_id": response["MessageId"], "body": body}],
    )  # fmt: skip
    return PublishResult(
        message_id=response["MessageId"], sequence_number=response.get("SequenceNumber")
    )


#: AWS's rules for the Id of a batch entry.
BATCH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
BATCH_COUNT = "A batch holds 1 to {max} messages; this one has {count}."
BATCH_ID_INVALID = "Entry id {id!r} is invalid: use 1-80 letters, digits, '-' and '_'."
BATCH_ID_TWICE = "Entry id {id!r} is used twice: each entry needs its own id."
BATCH_TOO_LARGE = (
    "The batch is {size:,} bytes with its attributes; all its messages together may have "
    "at most {limit:,} bytes ({kib} KiB)."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchEntry:
    """One message of a batch. ``subject`` applies to topics, ``delay_seconds`` to queues."""

    id: str
    body: str
    subject: str | None = None
    attributes: tuple[MessageAttribute, ...] = ()
    delay_seconds: int | None = None
    message_group_id: str | None = None
    deduplication_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSent:
    id: str
    message_id: str
    sequence_number: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchFailed:
    """An entry that was not sent: refused by Flowdash's checks (``field`` says which
    input) or by AWS (``code`` is AWS's; ``sender_fault`` false means retry may help)."""

    id: str
    code: str
    message: str
    field: str | None = None
    sender_fault: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchResult:
    successful: list[BatchSent]
    failed: list[BatchFailed]


def topic_publish_batch(
    conn: Connection, *, topic_arn: str, entries: Sequence[BatchEntry]
) -> BatchResult:
    """PublishBatch: up to 10 messages in one request, each checked as ``topic_publish``
    checks one. A bad entry fails alone, as AWS fails entries, and the rest are sent."""
    conn.write_check()
    ownership_check(conn, arn_name(topic_arn))
    checked, failed = _batch_check(
        entries,
        SNS_MAX_MESSAGE_BYTES,
        lambda e: _topic_message(
            conn, topic_arn, body=e.body, subject=e.subject, attributes=e.attributes,
            message_group_id=e.message_group_id, deduplication_id=e.deduplication_id,
        ),
    )  # fmt: skip
    if not checked:
        return BatchResult(successful=[], failed=failed)
    fifo = topic_arn.endswith(FIFO_SUFFIX)
    with _forget_on_error(conn, topic_arn, fifo), aws_errors(field="entries"):
        response = conn.sns.publish_batch(
            TopicArn=topic_arn,
            # Each is a Publish's checked parameters plus its Id (see _batch_check).
            PublishBatchRequestEntries=cast("list[PublishBatchRequestEntryTypeDef]", checked),
        )
    return _batch_result(response, failed, entries)


def queue_send_batch(
    conn: Connection, *, queue_url: str, entries: Sequence[BatchEntry]
) -> BatchResult:
    """SendMessageBatch: up to 10 messages in one request, each checked as ``queue_send``
    checks one; a bad entry fails alone and the rest are sent."""
    conn.write_check()
    ownership_check(conn, url_name(queue_url))
    checked, failed = _batch_check(
        entries,
        SQS_MAX_MESSAGE_BYTES,
        lambda e: _queue_message(
            conn, queue_url, body=e.body, attributes=e.attributes,
            delay_seconds=e.delay_seconds, message_group_id=e.message_group_id,
            deduplication_id=e.deduplication_id,
        ),
    )  # fmt: skip
    if not checked:
        return BatchResult(successful=[], failed=failed)
    fifo = queue_url.endswith(FIFO_SUFFIX)
    with _forget_on_error(conn, queue_url, fifo), aws_errors(field="entries"):
        response = conn.sqs.send_message_batch(
            QueueUrl=queue_url,
            # Each is a SendMessage's checked parameters plus its Id (see _batch_check).
            Entries=cast("list[SendMessageBatchRequestEntryTypeDef]", checked),
        )
    result = _batch_result(response, failed, entries)
    bodies = {e.id: e.body for e in entries}
    if result.successful:
        # One note for the batch: each note is a trip to the engine (about 0.8 ms).
        sent = [{"message_id": s.message_id, "body": bodies[s.id]} for s in result.successful]
        conn.notify("messages.sent", queue_url=queue_url, messages=sent)
    return result


def _batch_check(
    entries: Sequence[BatchEntry],
    limit: int,
    check: Callable[[BatchEntry], tuple[dict[str, Any], int]],
) -> tuple[list[dict[str, Any]], list[BatchFailed]]:
    """The batch as a whole (count, ids, total size) raises; one entry's bad input only
    fails that entry. Returns the AWS entries to send and the entries refused."""
    if not 1 <= len(entries) <= BATCH_MAX:
        raise InvalidInput(BATCH_COUNT.format(max=BATCH_MAX, count=len(entries)), field="entries")
    seen: set[str] = set()
    for entry in entries:
        if not BATCH_ID_RE.match(entry.id):
            raise InvalidInput(BATCH_ID_INVALID.format(id=entry.id), field="entries")
        if entry.id in seen:
            raise InvalidInput(BATCH_ID_TWICE.format(id=entry.id), field="entries")
        seen.add(entry.id)
    checked: list[dict[str, Any]] = []
    failed: list[BatchFailed] = []
    total = 0
    for entry in entries:
        try:
            params, size = check(entry)
        except InvalidInput as exc:
            failed.append(
                BatchFailed(id=entry.id, code=exc.code, message=exc.message, field=exc.field)
            )
            continue
        checked.append({"Id": entry.id, **params})
        total += size
    if total > limit:
        raise InvalidInput(
            BATCH_TOO_LARGE.format(size=total, limit=limit, kib=limit // 1024), field="entries"
        )
    return checked, failed


def _batch_result(
    response: PublishBatchResponseTypeDef | SendMessageBatchResultTypeDef,
    refused: list[BatchFailed],
    entries: Sequence[BatchEntry],
) -> BatchResult:
    """AWS's Successful/Failed lists plus Flowdash's refusals, in the order of the entries."""
    order = {e.id: n for n, e in enumerate(entries)}
    sent = [
        BatchSent(id=s["Id"], message_id=s["MessageId"], sequence_number=s.get("SequenceNumber"))
        for s in response.get("Successful", [])
    ]
    failed = refused + [
        BatchFailed(
            id=f["Id"],
            code=f.get("Code", "Unknown"),
            message=f.get("Message") or f["Code"],
            sender_fault=bool(f.get("SenderFault", True)),
        )
        for f in response.get("Failed", [])
    ]
    return BatchResult(
        successful=sorted(sent, key=lambda s: order.get(s.id, 0)),
        failed=sorted(failed, key=lambda f: order.get(f.id, 0)),
    )


def _topic_message(
    conn: Connection,
    topic_arn: str,
    *,
    body: str,
    subject: str | None = None,
    attributes: Iterable[MessageAttribute] = (),
    message_group_id: str | None = None,
    deduplication_id: str | None = None,
) -> tuple[dict[str, Any], int]:
    """Check one message for a topic: the parameters Publish and a PublishBatch entry
    share, and its size (body plus attributes) for the batch limit."""
    attrs = message_attributes_validate(attributes)
    body_validate(body, limit=SNS_MAX_MESSAGE_BYTES, attributes=attrs)
    subject_validate(subject)
    fifo = topic_arn.endswith(FIFO_SUFFIX)
    fifo_ids_validate(
        fifo=fifo,
        message_group_id=message_group_id,
        deduplication_id=deduplication_id,
        content_based_deduplication=fifo
        and not deduplication_id
        and topic_content_deduplication(conn, arn=topic_arn),
        kind="topic",
    )
    params: dict[str, Any] = {
        "Message": body,
        **message_options(attrs, message_group_id, deduplication_id),
    }
    if subject:
        params["Subject"] = subject
    return params, _size(body, attrs)


def _queue_message(
    conn: Connection,
    queue_url: str,
    *,
    body: str,
    attributes: Iterable[MessageAttribute] = (),
    delay_seconds: int | None = None,
    message_group_id: str | None = None,
    deduplication_id: str | None = None,
) -> tuple[dict[str, Any], int]:
    """Check one message for a queue: the parameters SendMessage and a SendMessageBatch
    entry share, and its size for the batch limit."""
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
        content_based_deduplication=fifo
        and not deduplication_id
        and queue_content_deduplication(conn, url=queue_url),
        kind="queue",
    )
    params: dict[str, Any] = {
        "MessageBody": body,
        **message_options(attrs, message_group_id, deduplication_id),
    }
    if delay_seconds:
        params["DelaySeconds"] = delay_seconds
    return params, _size(body, attrs)


def _size(body: str, attributes: Iterable[MessageAttribute]) -> int:
    return len(body.encode()) + sum(a.size for a in attributes)


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


@contextmanager
def _forget_on_error(conn: Connection, resource: str, fifo: bool) -> Iterator[None]:
    """A FIFO send that failed may have trusted a stale cached setting (content-based
    deduplication switched off outside Flowdash): ask AWS again next time."""
    try:
        yield
    except FlowdashError:
        if fifo:
            resource_cache.forget(conn, resource)
        raise
