"""Bursts: N messages at R per second, to a topic or a queue, for demos.

Bodies come from a template where ``{{n}}`` is the message's number (1..N).
Above 20 messages a second they go out in batches of up to 10 (PublishBatch /
SendMessageBatch), one request per batch, as a real producer would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .aio import AwsRunner
from .connection import Connection
from .errors import InvalidInput
from .publishing import message_options, queue_send, topic_publish
from .resources import arn_name, ownership_check
from .validation import (
    BATCH_MAX,
    SNS_MAX_MESSAGE_BYTES,
    SQS_MAX_MESSAGE_BYTES,
    MessageAttribute,
    body_validate,
    message_attributes_validate,
)

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import PublishBatchRequestEntryTypeDef
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

MAX_COUNT = 10_000
MAX_RATE = 1_000.0
BATCH_ABOVE_RATE = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Burst:
    count: int
    rate: float
    body_template: str = "message {{n}}"
    topic_arn: str | None = None
    queue_url: str | None = None
    attributes: tuple[MessageAttribute, ...] = ()
    message_group_id: str | None = None

    def validate(self) -> Burst:
        if not 1 <= self.count <= MAX_COUNT:
            raise InvalidInput(f"A burst sends 1 to {MAX_COUNT:,} messages.", field="count")
        if not 0.1 <= self.rate <= MAX_RATE:
            raise InvalidInput(f"The rate is 0.1 to {MAX_RATE:,.0f} per second.", field="rate")
        if bool(self.topic_arn) == bool(self.queue_url):
            raise InvalidInput("A burst goes to one topic or one queue.", field="target")
        target = self.topic_arn or self.queue_url or ""
        if target.endswith(".fifo") and not self.message_group_id:
            raise InvalidInput("A FIFO target needs a message group id.", field="message_group_id")
        limit = SNS_MAX_MESSAGE_BYTES if self.topic_arn else SQS_MAX_MESSAGE_BYTES
        attrs = message_attributes_validate(self.attributes)
        body_validate(self.body(self.count), limit=limit, attributes=attrs)
        return self

    def body(self, n: int) -> str:
        return self.body_template.replace("{{n}}", str(n))


async def burst_run(conn: Connection, run: AwsRunner, burst: Burst) -> int:
    """Send the burst, paced to its rate; returns how many were sent."""
    conn.write_check()
    burst.validate()
    target = burst.topic_arn or (burst.queue_url or "").rstrip("/")
    ownership_check(conn, arn_name(target) if burst.topic_arn else target.rsplit("/", 1)[-1])
    loop = asyncio.get_running_loop()
    start = loop.time()
    per_request = BATCH_MAX if burst.rate > BATCH_ABOVE_RATE else 1
    sent = 0
    while sent < burst.count:
        numbers = range(sent + 1, min(burst.count, sent + per_request) + 1)
        if per_request == 1:
            await run(_send_one, conn=conn, burst=burst, n=numbers[0])
        else:
            await run(_send_batch, conn=conn, burst=burst, numbers=list(numbers))
        sent += len(numbers)
        delay = start + sent / burst.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
    return sent


def _dedup(burst: Burst, n: int) -> str | None:
    target = burst.topic_arn or burst.queue_url or ""
    return f"burst-{id(burst)}-{n}" if target.endswith(".fifo") else None


def _send_one(*, conn: Connection, burst: Burst, n: int) -> None:
    body, dedup = burst.body(n), _dedup(burst, n)
    if burst.topic_arn:
        topic_publish(
            conn, topic_arn=burst.topic_arn, body=body, attributes=burst.attributes,
            message_group_id=burst.message_group_id, deduplication_id=dedup,
        )  # fmt: skip
    else:
        queue_send(
            conn, queue_url=burst.queue_url or "", body=body, attributes=burst.attributes,
            message_group_id=burst.message_group_id, deduplication_id=dedup,
        )  # fmt: skip


def _send_batch(*, conn: Connection, burst: Burst, numbers: list[int]) -> None:
    # message_options gives the parameters Publish and SendMessage share, as a plain dict.
    entries: list[tuple[int, dict[str, Any]]] = []
    for n in numbers:
        options = message_options(burst.attributes, burst.message_group_id, _dedup(burst, n))
        entries.append((n, {"Id": str(n), **options}))
    if burst.topic_arn:
        conn.sns.publish_batch(
            TopicArn=burst.topic_arn,
            PublishBatchRequestEntries=cast(
                "list[PublishBatchRequestEntryTypeDef]",
                [{**e, "Message": burst.body(n)} for n, e in entries],
            ),
        )
    else:
        response = conn.sqs.send_message_batch(
            QueueUrl=burst.queue_url or "",
            Entries=cast(
                "list[SendMessageBatchRequestEntryTypeDef]",
                [{**e, "MessageBody": burst.body(n)} for n, e in entries],
            ),
        )
        sent = [
            {"message_id": ok["MessageId"], "body": burst.body(int(ok["Id"]))}
            for ok in response.get("Successful", [])
        ]
        if sent:
            conn.notify("messages.sent", queue_url=burst.queue_url, messages=sent)
