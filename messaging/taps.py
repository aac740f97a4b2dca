"""Tap queues: how Flowdash sees every publication, whoever published it.

For each topic Flowdash subscribes a queue of its own (raw delivery off, no
filter), so each publication arrives there with its SNS envelope: MessageId,
attributes and body. Tap queues are named under the resource prefix with the
``fdtap-`` mark, hidden from listings, kept short-lived (messages expire after
5 minutes), and removed by ``tap_cleanup`` (``manage.py flowcleanup``).
Cost on AWS: one long poll per topic every 20 s when idle, about 3 requests a minute.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .connection import Connection
from .errors import ResourceNotFound, aws_errors
from .resources import TAGS, TAP_MARK, Topic, arn_name, queue_get, topic_arns
from .subscriptions import queue_policy_allow

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType

TAP_RETENTION_SECONDS = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class Tap:
    topic_arn: str
    queue_url: str
    queue_arn: str
    subscription_arn: str


def tap_queue_name(conn: Connection, topic: Topic) -> str:
    stem = topic.name.removesuffix(".fifo")
    digest = hashlib.sha256(topic.arn.encode()).hexdigest()[:8]
    head = f"{conn.prefix}{TAP_MARK}"
    room = 80 - len(head) - len(digest) - 1 - (5 if topic.fifo else 0)
    return f"{head}{stem[:room]}-{digest}" + (".fifo" if topic.fifo else "")


def tap_ensure(conn: Connection, topic: Topic) -> Tap:
    """Create (or find) the topic's tap queue and subscription. Idempotent."""
    conn.write_check()
    attributes: dict[QueueAttributeNameType, str] = {
        "MessageRetentionPeriod": str(TAP_RETENTION_SECONDS)
    }
    if topic.fifo:
        attributes["FifoQueue"] = "true"
    with aws_errors():
        url = conn.sqs.create_queue(
            QueueName=tap_queue_name(conn, topic), Attributes=attributes, tags=TAGS
        )["QueueUrl"]
    queue = queue_get(conn, url=url)
    queue_policy_allow(conn, queue_arn=queue.arn, topic_arn=topic.arn)
    with aws_errors():
        arn = conn.sns.subscribe(
            TopicArn=topic.arn,
            Protocol="sqs",
            Endpoint=queue.arn,
            Attributes={"RawMessageDelivery": "false"},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
    return Tap(topic_arn=topic.arn, queue_url=url, queue_arn=queue.arn, subscription_arn=arn)


def tap_cleanup(conn: Connection, *, keep_topics: bool = False) -> list[str]:
    """Delete tap queues (all, or only those whose topic is gone) and their subscriptions.

    Returns the names of the queues deleted.
    """
    conn.write_check()
    live = set(topic_arns(conn)) if keep_topics else set()
    wanted = {tap_queue_name(conn, _topic_stub(arn)) for arn in live}
    deleted = []
    with aws_errors():
        pages = conn.sqs.get_paginator("list_queues").paginate(
            QueueNamePrefix=conn.prefix + TAP_MARK
        )
        urls = [url for page in pages for url in page.get("QueueUrls", [])]
    for url in urls:
        name = url.rsplit("/", 1)[-1]
        if name in wanted:
            continue
        _unsubscribe_queue(conn, name)
        try:
            with aws_errors():
                conn.sqs.delete_queue(QueueUrl=url)
        except ResourceNotFound:
            pass
        deleted.append(name)
    return deleted


def _topic_stub(arn: str) -> Topic:
    return Topic(arn=arn, name=arn_name(arn), fifo=arn.endswith(".fifo"))


def _unsubscribe_queue(conn: Connection, queue_name: str) -> None:
    with aws_errors():
        for page in conn.sns.get_paginator("list_subscriptions").paginate():
            for sub in page.get("Subscriptions", []):
                if sub["Protocol"] == "sqs" and arn_name(sub["Endpoint"]) == queue_name:
                    conn.sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
