"""SQS queues: create (with a dead-letter queue), read, list, update, delete, purge.

Queues are addressed by URL here, as SQS does; ``queue_url`` resolves the ARN
Flowdash's API uses (a GetQueueUrl, cached for the send path by
``queue_url_cached``). Listing costs one ListQueues page per 1,000 queues plus a
GetQueueAttributes per queue, which is why the watcher samples depth itself
rather than calling these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..connection import Connection
from ..errors import InvalidInput, ResourceConflict, ResourceNotFound, aws_errors
from ..validation import (
    DELAY_SECONDS_MAX,
    FIFO_SUFFIX,
    MAX_RECEIVE_COUNT_MAX,
    RECEIVE_WAIT_MAX,
    RETENTION_MAX,
    RETENTION_MIN,
    VISIBILITY_TIMEOUT_MAX,
    int_in_range,
    resource_name_validate,
)
from .cache import SETTING_TTL, resource_cache
from .names import TAGS, arn_name, is_listed, ownership_check, qualified_name, url_name

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType

DEFAULT_MAX_RECEIVE_COUNT = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Depth:
    visible: int = 0
    in_flight: int = 0
    delayed: int = 0

    @classmethod
    def from_attributes(cls, attributes: Mapping[QueueAttributeNameType, str]) -> Depth:
        return cls(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    url: str
    arn: str
    name: str
    fifo: bool
    depth: Depth
    content_based_deduplication: bool = False
    dead_letter_arn: str | None = None
    max_receive_count: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Setting:
    """One numeric setting of ``queue_create``: its SQS attribute and allowed range."""

    attribute: QueueAttributeNameType
    low: int
    high: int
    #: How error messages name it.
    what: str


#: The numeric settings ``queue_create`` takes, in the order they are checked.
QUEUE_SETTINGS = {
    "visibility_timeout": _Setting(
        "VisibilityTimeout", 0, VISIBILITY_TIMEOUT_MAX, "The visibility timeout (seconds)"
    ),
    "delay_seconds": _Setting("DelaySeconds", 0, DELAY_SECONDS_MAX, "The delay (seconds)"),
    "retention_seconds": _Setting(
        "MessageRetentionPeriod", RETENTION_MIN, RETENTION_MAX, "The retention period (seconds)"
    ),
    "receive_wait_seconds": _Setting(
        "ReceiveMessageWaitTimeSeconds", 0, RECEIVE_WAIT_MAX, "The receive wait time (seconds)"
    ),
}


def queue_url(conn: Connection, *, arn: str) -> str:
    """Resolve a queue ARN (how Flowdash names queues in its API) to the URL SQS needs."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise InvalidInput(f"{arn!r} is not an SQS queue ARN.", field="queue")
    ownership_check(conn, parts[5])
    with aws_errors(field="queue"):
        return conn.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
            "QueueUrl"
        ]


def queue_url_cached(conn: Connection, *, arn: str) -> str:
    """``queue_url`` without the GetQueueUrl once the ARN is known: for the send path.

    Not for existence checks: a queue deleted outside Flowdash stays cached until a
    call on its URL fails. Callers that get ``ResourceNotFound`` from that call
    ``resource_cache.forget`` it and resolve again (see ``dashboard.services.queue_send``).
    """
    url: str | None = resource_cache.get(conn, "queue_url", arn)
    if url is None:
        url = queue_url(conn, arn=arn)
        resource_cache.put(conn, "queue_url", arn, url)
    return url


def queue_content_deduplication(conn: Connection, *, url: str) -> bool:
    """Whether a FIFO queue deduplicates by content: a FIFO send without a deduplication
    id needs it (one GetQueueAttributes, then cached)."""
    cached: bool | None = resource_cache.get(conn, "cbd", url)
    if cached is None:
        with aws_errors(field="queue"):
            attributes = conn.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ContentBasedDeduplication"]
            )["Attributes"]
        cached = attributes.get("ContentBasedDeduplication") == "true"
        resource_cache.put(conn, "cbd", url, cached, ttl=SETTING_TTL)
    return cached


def queue_get(conn: Connection, *, url: str) -> Queue:
    name = url_name(url)
    ownership_check(conn, name)
    with aws_errors(field="queue"):
        attributes = conn.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
    return queue_from_attributes(url=url, attributes=attributes)


def queue_from_attributes(*, url: str, attributes: Mapping[QueueAttributeNameType, str]) -> Queue:
    """A queue as GetQueueAttributes(All) describes it (the watcher's samples reuse it)."""
    redrive = _json_or_none(attributes.get("RedrivePolicy"))
    return Queue(
        url=url,
        arn=attributes["QueueArn"],
        name=url_name(url),
        fifo=attributes.get("FifoQueue") == "true",
        depth=Depth.from_attributes(attributes),
        content_based_deduplication=attributes.get("ContentBasedDeduplication") == "true",
        dead_letter_arn=redrive.get("deadLetterTargetArn") if redrive else None,
        max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
        # Kept keyed by plain names: readers look attributes up from their own tables.
        attributes=cast("dict[str, str]", dict(attributes)),
    )


def queue_urls(conn: Connection) -> list[str]:
    kwargs: dict[str, Any] = {"QueueNamePrefix": conn.prefix} if conn.prefix else {}
    urls: list[str] = []
    with aws_errors():
        for page in conn.sqs.get_paginator("list_queues").paginate(**kwargs):
            urls.extend(u for u in page.get("QueueUrls", []) if is_listed(conn, url_name(u)))
    return sorted(urls, key=url_name)


def queue_list(conn: Connection, *, known: Mapping[str, Queue] | None = None) -> list[Queue]:
    """Every queue under the prefix; those in ``known`` (by URL) are taken as they are,
    without their GetQueueAttributes: the listing still shows every new and deleted one."""
    queues = []
    for url in queue_urls(conn):
        if known and url in known:
            queues.append(known[url])
            continue
        try:
            queues.append(queue_get(conn, url=url))
        except ResourceNotFound:
            continue
    return queues


def queue_create(
    conn: Connection,
    *,
    name: str,
    fifo: bool = False,
    content_based_deduplication: bool = False,
    visibility_timeout: int | None = None,
    delay_seconds: int | None = None,
    retention_seconds: int | None = None,
    receive_wait_seconds: int | None = None,
    dead_letter_queue_arn: str | None = None,
    new_dead_letter_queue: str | None = None,
    max_receive_count: int | None = None,
) -> Queue:
    """Create a queue, optionally with a dead-letter queue made alongside it.

    Every input is checked before anything is created. A DLQ created here is deleted
    again if the main queue cannot be created, so a failure leaves nothing behind.
    """
    conn.write_check()
    name = resource_name_validate(qualified_name(conn, name), kind="queue", fifo=fifo)
    attributes = _queue_attributes(
        fifo=fifo,
        content_based_deduplication=content_based_deduplication,
        settings={
            "visibility_timeout": visibility_timeout,
            "delay_seconds": delay_seconds,
            "retention_seconds": retention_seconds,
            "receive_wait_seconds": receive_wait_seconds,
        },
    )
    max_receive_count = _max_receive_count(
        dead_letter_queue_arn=dead_letter_queue_arn,
        new_dead_letter_queue=new_dead_letter_queue,
        max_receive_count=max_receive_count,
    )
    created_dlq: Queue | None = None
    if new_dead_letter_queue:
        created_dlq = _dead_letter_create(
            conn, queue_name=name, name=new_dead_letter_queue, fifo=fifo
        )
        dead_letter_queue_arn = created_dlq.arn
    elif dead_letter_queue_arn:
        _dead_letter_check(conn, arn=dead_letter_queue_arn, fifo=fifo)
    if dead_letter_queue_arn:
        attributes["RedrivePolicy"] = _json_dumps(
            {"deadLetterTargetArn": dead_letter_queue_arn, "maxReceiveCount": max_receive_count}
        )
    url = _create_or_roll_back(conn, name=name, attributes=attributes, created_dlq=created_dlq)
    conn.notify("topology.changed")
    return queue_get(conn, url=url)


#: What ``queue_update`` says for a maxReceiveCount on a queue without a dead-letter queue.
NO_DEAD_LETTER_QUEUE = (
    "maxReceiveCount applies only to a queue with a dead-letter queue, and this queue has none."
)
#: What ``queue_update`` says when it is given nothing to change.
NOTHING_TO_UPDATE = "Give at least one setting to change."


def queue_update(
    conn: Connection,
    *,
    url: str,
    visibility_timeout: int | None = None,
    delay_seconds: int | None = None,
    retention_seconds: int | None = None,
    max_receive_count: int | None = None,
) -> Queue:
    """Change a queue's settings; ``None`` leaves a setting as it is.

    Every value is checked against SQS's limits (visibility 0-43200 s, delay 0-900 s,
    retention 60-1209600 s, maxReceiveCount 1-1000) before anything is sent, and all
    of them go in one SetQueueAttributes, which SQS applies whole or not at all, so a
    bad value changes nothing. maxReceiveCount lives in the RedrivePolicy: the queue's
    own policy is kept and only its count replaced. Costs one SetQueueAttributes and a
    GetQueueAttributes for the answer, plus one for the current policy when
    maxReceiveCount changes.
    """
    conn.write_check()
    ownership_check(conn, url_name(url))
    attributes = _queue_attributes(
        fifo=False,
        content_based_deduplication=False,
        settings={
            "visibility_timeout": visibility_timeout,
            "delay_seconds": delay_seconds,
            "retention_seconds": retention_seconds,
        },
    )
    if max_receive_count is not None:
        int_in_range(
            max_receive_count, field="max_receive_count", low=1, high=MAX_RECEIVE_COUNT_MAX,
            what="maxReceiveCount",
        )  # fmt: skip
        with aws_errors(field="queue"):
            answer = conn.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
        # A queue without the attribute answers without "Attributes" at all.
        redrive = _json_or_none(answer.get("Attributes", {}).get("RedrivePolicy"))
        if not redrive or not redrive.get("deadLetterTargetArn"):
            raise InvalidInput(NO_DEAD_LETTER_QUEUE, field="max_receive_count")
        attributes["RedrivePolicy"] = _json_dumps({**redrive, "maxReceiveCount": max_receive_count})
    if not attributes:
        raise InvalidInput(NOTHING_TO_UPDATE)
    with aws_errors(field="queue"):
        conn.sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    conn.notify("topology.changed")
    return queue_get(conn, url=url)


def queue_delete(conn: Connection, *, url: str) -> None:
    conn.write_check()
    ownership_check(conn, url_name(url))
    with aws_errors(field="queue"):
        conn.sqs.delete_queue(QueueUrl=url)
    resource_cache.forget(conn, url)
    conn.notify("topology.changed")


def queue_purge(conn: Connection, *, url: str) -> None:
    """Delete every message. AWS allows one purge per queue per 60 s."""
    conn.write_check()
    ownership_check(conn, url_name(url))
    with aws_errors(field="queue"):
        conn.sqs.purge_queue(QueueUrl=url)


def dead_letter_sources(conn: Connection, *, queue: Queue) -> list[Queue]:
    """The queues that park their failed messages in ``queue``."""
    with aws_errors(field="queue"):
        pages = conn.sqs.get_paginator("list_dead_letter_source_queues").paginate(
            QueueUrl=queue.url
        )
        urls = [u for page in pages for u in page.get("queueUrls", [])]
    return [queue_get(conn, url=u) for u in urls if is_listed(conn, url_name(u))]


# queue_create's steps ---------------------------------------------------------------


def _queue_attributes(
    *, fifo: bool, content_based_deduplication: bool, settings: Mapping[str, int | None]
) -> dict[QueueAttributeNameType, str]:
    """Check the queue's own settings against SQS's limits and turn them into
    CreateQueue attributes (only those given: SQS's defaults apply to the rest)."""
    if content_based_deduplication and not fifo:
        raise InvalidInput(
            "Content-based deduplication applies only to FIFO queues.",
            field="content_based_deduplication",
        )
    attributes: dict[QueueAttributeNameType, str] = {}
    for key, value in settings.items():
        setting = QUEUE_SETTINGS[key]
        int_in_range(value, field=key, low=setting.low, high=setting.high, what=setting.what)
        if value is not None:
            attributes[setting.attribute] = str(value)
    if fifo:
        attributes["FifoQueue"] = "true"
        if content_based_deduplication:
            attributes["ContentBasedDeduplication"] = "true"
    return attributes


def _max_receive_count(
    *,
    dead_letter_queue_arn: str | None,
    new_dead_letter_queue: str | None,
    max_receive_count: int | None,
) -> int | None:
    """The dead-letter choice checked: one DLQ at most, and with one a maxReceiveCount
    in AWS's range (Flowdash's default when none is given)."""
    if dead_letter_queue_arn and new_dead_letter_queue:
        raise InvalidInput(
            "Choose an existing dead-letter queue or name a new one, not both.",
            field="dead_letter_queue_arn",
        )
    if not (dead_letter_queue_arn or new_dead_letter_queue):
        return max_receive_count
    max_receive_count = max_receive_count or DEFAULT_MAX_RECEIVE_COUNT
    int_in_range(
        max_receive_count,
        field="max_receive_count",
        low=1,
        high=MAX_RECEIVE_COUNT_MAX,
        what="maxReceiveCount",
    )
    return max_receive_count


def _dead_letter_create(conn: Connection, *, queue_name: str, name: str, fifo: bool) -> Queue:
    """The new DLQ, made before its queue (whose RedrivePolicy needs the DLQ's ARN). A name
    that exists is refused: reusing it would let a rollback delete a queue we did not make."""
    dlq_name = resource_name_validate(
        qualified_name(conn, name), kind="queue", fifo=fifo, field="new_dead_letter_queue"
    )
    if dlq_name == queue_name:
        raise InvalidInput(
            "A queue cannot be its own dead-letter queue.", field="new_dead_letter_queue"
        )
    if _queue_exists(conn, dlq_name):
        raise ResourceConflict(
            f"A queue named {dlq_name!r} exists already: choose it as the existing "
            "dead-letter queue instead.",
            field="new_dead_letter_queue",
        )
    return queue_create(conn, name=dlq_name, fifo=fifo)


def _dead_letter_check(conn: Connection, *, arn: str, fifo: bool) -> None:
    """An existing DLQ must exist and be of its queue's kind (FIFO or standard), as SQS
    requires; checked here so the message names the field."""
    dlq_name = arn_name(arn)
    if dlq_name.endswith(FIFO_SUFFIX) != fifo:
        raise InvalidInput(
            "The dead-letter queue of a FIFO queue must be FIFO, and of a standard queue standard.",
            field="dead_letter_queue_arn",
        )
    try:
        queue_url(conn, arn=arn)
    except ResourceNotFound:
        raise ResourceNotFound(
            f"Dead-letter queue {dlq_name!r} does not exist.", field="dead_letter_queue_arn"
        ) from None


def _create_or_roll_back(
    conn: Connection,
    *,
    name: str,
    attributes: dict[QueueAttributeNameType, str],
    created_dlq: Queue | None,
) -> str:
    """CreateQueue; if it fails, the DLQ made for this queue is deleted again."""
    try:
        with aws_errors(field="name"):
            return conn.sqs.create_queue(QueueName=name, Attributes=attributes, tags=TAGS)[
                "QueueUrl"
            ]
    except ResourceConflict:
        _rollback(conn, created_dlq)
        raise ResourceConflict(
            f"A queue named {name!r} exists already with different settings.", field="name"
        ) from None
    except Exception:
        _rollback(conn, created_dlq)
        raise


def _queue_exists(conn: Connection, name: str) -> bool:
    try:
        with aws_errors():
            conn.sqs.get_queue_url(QueueName=name)
    except ResourceNotFound:
        return False
    return True


def _rollback(conn: Connection, created: Queue | None) -> None:
    if created is not None:
        with aws_errors():
            conn.sqs.delete_queue(QueueUrl=created.url)


def _json_or_none(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def _json_dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
