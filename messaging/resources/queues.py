"""Topics and queues: create, read, delete, each idempotent where AWS is.

Every name goes through the resource prefix: on real AWS Flowdash shares the
account with other software, so it lists only names under the prefix and
refuses to change anything else. Each AWS call costs a request; the listings
here cost one request per resource (attributes are not in the List* answers),
which is why the watcher samples depth itself rather than calling these.

Two answers are cached (``resource_cache``), because the send path would
otherwise ask for them on every message, as an AWS user's script would not:
queue URLs (Flowdash's API names queues by ARN; a GetQueueUrl per send doubled
the cost of a send through the API) and FIFO content-based deduplication (a
Get*Attributes per FIFO publish without a deduplication id). Both are forgotten
when Flowdash deletes the resource, and by a caller that finds them wrong.
"""

from __future__ import annotations

import json
import math
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .connection import Connection
from .errors import (
    InvalidInput,
    OutsidePrefix,
    ResourceConflict,
    ResourceNotFound,
    aws_errors,
)
from .validation import (
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

#: Flowdash's own tap queues live under this mark and stay out of listings.
TAP_MARK = "fdtap-"
TAGS = {"managed-by": "flowdash"}
DEFAULT_MAX_RECEIVE_COUNT = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Depth:
    visible: int = 0
    in_flight: int = 0
    delayed: int = 0

    @classmethod
    def from_attributes(cls, attributes: dict[str, str]) -> Depth:
        return cls(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Topic:
    arn: str
    name: str
    fifo: bool
    content_based_deduplication: bool = False
    attributes: dict[str, str] = field(default_factory=dict)


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


def arn_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def qualified_name(conn: Connection, name: str) -> str:
    """The full AWS name: the prefix is added unless the user already typed it."""
    name = name.strip()
    return name if name.startswith(conn.prefix) else conn.prefix + name


def ownership_check(conn: Connection, name: str) -> None:
    if not name.startswith(conn.prefix):
        raise OutsidePrefix(
            f"{name!r} is not under Flowdash's resource prefix {conn.prefix!r}; "
            "Flowdash leaves it alone.",
            code="OutsidePrefix",
        )


def is_listed(conn: Connection, name: str) -> bool:
    return name.startswith(conn.prefix) and not name.startswith(conn.prefix + TAP_MARK)


# Topics ---------------------------------------------------------------------------


def topic_create(
    conn: Connection, *, name: str, fifo: bool = False, content_based_deduplication: bool = False
) -> Topic:
    conn.write_check()
    name = resource_name_validate(qualified_name(conn, name), kind="topic", fifo=fifo)
    if content_based_deduplication and not fifo:
        raise InvalidInput(
            "Content-based deduplication applies only to FIFO topics.",
            field="content_based_deduplication",
        )
    attributes = {"FifoTopic": "true"} if fifo else {}
    if content_based_deduplication:
        attributes["ContentBasedDeduplication"] = "true"
    tags = [{"Key": k, "Value": v} for k, v in TAGS.items()]
    with aws_errors(field="name"):
        arn = conn.sns.create_topic(Name=name, Attributes=attributes, Tags=tags)["TopicArn"]
    conn.notify("topology.changed")
    return topic_get(conn, arn=arn)


def topic_get(conn: Connection, *, arn: str) -> Topic:
    ownership_check(conn, arn_name(arn))
    with aws_errors():
        attributes = conn.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    return Topic(
        arn=arn,
        name=arn_name(arn),
        fifo=attributes.get("FifoTopic") == "true",
        content_based_deduplication=attributes.get("ContentBasedDeduplication") == "true",
        attributes=attributes,
    )


def topic_arns(conn: Connection) -> list[str]:
    arns: list[str] = []
    with aws_errors():
        for page in conn.sns.get_paginator("list_topics").paginate():
            arns.extend(
                t["TopicArn"]
                for t in page.get("Topics", [])
                if is_listed(conn, arn_name(t["TopicArn"]))
            )
    return sorted(arns)


def topic_list(conn: Connection) -> list[Topic]:
    topics = []
    for arn in topic_arns(conn):
        try:
            topics.append(topic_get(conn, arn=arn))
        except ResourceNotFound:  # deleted between the listing and the read
            continue
    return topics


def topic_delete(conn: Connection, *, arn: str) -> None:
    conn.write_check()
    ownership_check(conn, arn_name(arn))
    with aws_errors():
        conn.sns.delete_topic(TopicArn=arn)
    resource_cache.forget(conn, arn)
    conn.notify("topology.changed")


# Queues ---------------------------------------------------------------------------


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


class ResourceCache:
    """Answers about a resource that AWS would give the same way every time, per connection.

    Keyed by connection (weakly, so a new backend, or a test's fresh moto server, never
    sees another one's answers) and by ``(kind, resource)``. An entry lives until its
    resource is deleted through Flowdash or a caller finds it wrong and forgets it;
    ``ttl`` bounds entries that could change outside Flowdash.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: weakref.WeakKeyDictionary[
            Connection, dict[tuple[str, str], tuple[Any, float]]
        ] = weakref.WeakKeyDictionary()

    def get(self, conn: Connection, kind: str, resource: str) -> Any | None:
        with self._lock:
            value, expires = self._data.get(conn, {}).get((kind, resource), (None, 0.0))
        return value if expires > time.monotonic() else None

    def put(
        self, conn: Connection, kind: str, resource: str, value: Any, ttl: float = math.inf
    ) -> None:
        with self._lock:
            self._data.setdefault(conn, {})[(kind, resource)] = (value, time.monotonic() + ttl)

    def forget(self, conn: Connection, *resources: str) -> None:
        """Drop every entry about these resources (as key or as cached value)."""
        gone = set(resources)
        with self._lock:
            entries = self._data.get(conn)
            for key, (value, _) in list((entries or {}).items()):
                if key[1] in gone or value in gone:
                    del entries[key]  # type: ignore[union-attr]


resource_cache = ResourceCache()

#: How long a cached FIFO setting is trusted: SetTopicAttributes or SetQueueAttributes
#: outside Flowdash can change content-based deduplication without telling us.
SETTING_TTL = 30.0


def queue_url_cached(conn: Connection, *, arn: str) -> str:
    """``queue_url`` without the GetQueueUrl once the ARN is known: for the send path.

    Not for existence checks: a queue deleted outside Flowdash stays cached until a
    call on its URL fails. Callers that get ``ResourceNotFound`` from that call
    ``resource_cache.forget`` it and resolve again (see ``dashboard.api.queue_send``).
    """
    url: str | None = resource_cache.get(conn, "queue_url", arn)
    if url is None:
        url = queue_url(conn, arn=arn)
        resource_cache.put(conn, "queue_url", arn, url)
    return url


def topic_content_deduplication(conn: Connection, *, arn: str) -> bool:
    """Whether a FIFO topic deduplicates by content: a FIFO publish without a
    deduplication id needs it, and asking costs a GetTopicAttributes per publish."""
    cached: bool | None = resource_cache.get(conn, "cbd", arn)
    if cached is None:
        with aws_errors(field="topic"):
            attributes = conn.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        cached = attributes.get("ContentBasedDeduplication") == "true"
        resource_cache.put(conn, "cbd", arn, cached, ttl=SETTING_TTL)
    return cached


def queue_content_deduplication(conn: Connection, *, url: str) -> bool:
    """The same for a FIFO queue (one GetQueueAttributes, then cached)."""
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
    name = url.rstrip("/").rsplit("/", 1)[-1]
    ownership_check(conn, name)
    with aws_errors(field="queue"):
        attributes = conn.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
    redrive = _json_or_none(attributes.get("RedrivePolicy"))
    return Queue(
        url=url,
        arn=attributes["QueueArn"],
        name=name,
        fifo=attributes.get("FifoQueue") == "true",
        depth=Depth.from_attributes(attributes),
        content_based_deduplication=attributes.get("ContentBasedDeduplication") == "true",
        dead_letter_arn=redrive.get("deadLetterTargetArn") if redrive else None,
        max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
        attributes=attributes,
    )


def queue_urls(conn: Connection) -> list[str]:
    kwargs: dict[str, Any] = {"QueueNamePrefix": conn.prefix} if conn.prefix else {}
    urls: list[str] = []
    with aws_errors():
        for page in conn.sqs.get_paginator("list_queues").paginate(**kwargs):
            urls.extend(
                u for u in page.get("QueueUrls", []) if is_listed(conn, u.rsplit("/", 1)[-1])
            )
    return sorted(urls, key=lambda u: u.rsplit("/", 1)[-1])


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

    A DLQ created here is deleted again if the main queue cannot be created, so a
    failure leaves nothing behind.
    """
    conn.write_check()
    name = resource_name_validate(qualified_name(conn, name), kind="queue", fifo=fifo)
    if content_based_deduplication and not fifo:
        raise InvalidInput(
            "Content-based deduplication applies only to FIFO queues.",
            field="content_based_deduplication",
        )
    int_in_range(
        visibility_timeout,
        field="visibility_timeout",
        low=0,
        high=VISIBILITY_TIMEOUT_MAX,
        what="The visibility timeout (seconds)",
    )
    int_in_range(
        delay_seconds,
        field="delay_seconds",
        low=0,
        high=DELAY_SECONDS_MAX,
        what="The delay (seconds)",
    )
    int_in_range(
        retention_seconds,
        field="retention_seconds",
        low=RETENTION_MIN,
        high=RETENTION_MAX,
        what="The retention period (seconds)",
    )
    int_in_range(
        receive_wait_seconds,
        field="receive_wait_seconds",
        low=0,
        high=RECEIVE_WAIT_MAX,
        what="The receive wait time (seconds)",
    )
    if dead_letter_queue_arn and new_dead_letter_queue:
        raise InvalidInput(
            "Choose an existing dead-letter queue or name a new one, not both.",
            field="dead_letter_queue_arn",
        )
    wants_dlq = bool(dead_letter_queue_arn or new_dead_letter_queue)
    if wants_dlq:
        max_receive_count = max_receive_count or DEFAULT_MAX_RECEIVE_COUNT
        int_in_range(
            max_receive_count,
            field="max_receive_count",
            low=1,
            high=MAX_RECEIVE_COUNT_MAX,
            what="maxReceiveCount",
        )
    attributes: dict[str, str] = {}
    for key, value in (
        ("VisibilityTimeout", visibility_timeout),
        ("DelaySeconds", delay_seconds),
        ("MessageRetentionPeriod", retention_seconds),
        ("ReceiveMessageWaitTimeSeconds", receive_wait_seconds),
    ):
        if value is not None:
            attributes[key] = str(value)
    if fifo:
        attributes["FifoQueue"] = "true"
        if content_based_deduplication:
            attributes["ContentBasedDeduplication"] = "true"

    created_dlq: Queue | None = None
    if new_dead_letter_queue:
        dlq_name = resource_name_validate(
            qualified_name(conn, new_dead_letter_queue),
            kind="queue",
            fifo=fifo,
            field="new_dead_letter_queue",
        )
        if dlq_name == name:
            raise InvalidInput(
                "A queue cannot be its own dead-letter queue.", field="new_dead_letter_queue"
            )
        if _queue_exists(conn, dlq_name):
            raise ResourceConflict(
                f"A queue named {dlq_name!r} exists already: choose it as the existing "
                "dead-letter queue instead.",
                field="new_dead_letter_queue",
            )
        created_dlq = queue_create(conn, name=dlq_name, fifo=fifo)
        dead_letter_queue_arn = created_dlq.arn
    elif dead_letter_queue_arn:
        dlq_name = arn_name(dead_letter_queue_arn)
        if dlq_name.endswith(FIFO_SUFFIX) != fifo:
            raise InvalidInput(
                "The dead-letter queue of a FIFO queue must be FIFO, and of a standard queue "
                "standard.",
                field="dead_letter_queue_arn",
            )
        try:
            queue_url(conn, arn=dead_letter_queue_arn)
        except ResourceNotFound:
            raise ResourceNotFound(
                f"Dead-letter queue {dlq_name!r} does not exist.", field="dead_letter_queue_arn"
            ) from None
    if dead_letter_queue_arn:
        attributes["RedrivePolicy"] = _json_dumps(
            {"deadLetterTargetArn": dead_letter_queue_arn, "maxReceiveCount": max_receive_count}
        )

    try:
        with aws_errors(field="name"):
            url = conn.sqs.create_queue(QueueName=name, Attributes=attributes, tags=TAGS)[
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
    conn.notify("topology.changed")
    return queue_get(conn, url=url)


def queue_delete(conn: Connection, *, url: str) -> None:
    conn.write_check()
    ownership_check(conn, url.rstrip("/").rsplit("/", 1)[-1])
    with aws_errors(field="queue"):
        conn.sqs.delete_queue(QueueUrl=url)
    resource_cache.forget(conn, url)
    conn.notify("topology.changed")


def queue_purge(conn: Connection, *, url: str) -> None:
    """Delete every message. AWS allows one purge per queue per 60 s."""
    conn.write_check()
    ownership_check(conn, url.rstrip("/").rsplit("/", 1)[-1])
    with aws_errors(field="queue"):
        conn.sqs.purge_queue(QueueUrl=url)


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


def dead_letter_sources(conn: Connection, *, queue: Queue) -> list[Queue]:
    """The queues that park their failed messages in ``queue``."""
    with aws_errors(field="queue"):
        pages = conn.sqs.get_paginator("list_dead_letter_source_queues").paginate(
            QueueUrl=queue.url
        )
        urls = [u for page in pages for u in page.get("queueUrls", [])]
    return [queue_get(conn, url=u) for u in urls if is_listed(conn, u.rsplit("/", 1)[-1])]
