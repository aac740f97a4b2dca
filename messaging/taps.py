"""Tap queues: how Flowdash sees every publication, whoever published it.

For each topic Flowdash subscribes one queue of its own (raw delivery off, no
filter), so each publication arrives there with its SNS envelope: MessageId,
attributes and body. What a tap adds to an account, and how it goes away:

- the queue ``<prefix>fdtap-<topic name>-<8 hex of the topic ARN>`` (``.fifo`` for a
  FIFO topic), tagged ``managed-by=flowdash`` and ``flowdash:tap-of=<topic ARN>``,
  keeping messages 5 minutes, with a policy that lets only that topic send to it;
- one SQS subscription of the topic to that queue.

The name is derived from the topic ARN, so there is at most one tap per topic, a
restarted Flowdash adopts the tap it left, and a tap whose topic is gone is known by
name alone. One exception: a spare name (``-<8 hex>s``) while AWS blocks the usual one,
and the watcher removes whichever of the two its topic's tap is not. The watcher
deletes a tap when its topic is deleted, when Flowdash stops, and at start for taps
left by a Flowdash that was killed (``tap_remove``); ``manage.py flowcleanup``
removes every tap by hand (``tap_cleanup``).

Cost: creating a tap is two requests (CreateQueue with the policy and tags, then
Subscribe); removing one is an Unsubscribe and a DeleteQueue. Reading one is one
20 s long poll per topic when idle, 3 requests a minute.

On AWS a deleted queue's name cannot be used again for 60 s
(``QueueDeletedRecently``; LocalStack only with ``SQS_DELAY_RECENTLY_DELETED=1``, moto
never): a Flowdash restarted within a minute of a clean stop taps its topics under the
spare name. A third start within that minute finds both names blocked and says so in an
``error`` event until one is free.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .connection import Connection
from .errors import FlowdashError, ResourceConflict, ResourceNotFound, aws_errors
from .resources import TAGS, TAP_MARK, Topic, arn_name, url_name
from .subscriptions import POLICY_SID

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType

TAP_RETENTION_SECONDS = 300
#: The tag that names a tap's topic, so a tap can be traced (and cleaned up) by hand.
TAP_OF_TAG = "flowdash:tap-of"
#: SQS tag values are at most 256 characters; a longer topic ARN is named by the digest only.
TAG_VALUE_MAX = 256
SPARE_MARK = "s"
#: AWS's answer to CreateQueue with a name deleted less than 60 s ago.
DELETED_RECENTLY = "QueueDeletedRecently"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tap:
    topic_arn: str
    queue_url: str
    queue_arn: str
    subscription_arn: str


def tap_queue_name(conn: Connection, topic: Topic, *, spare: bool = False) -> str:
    """The tap's queue name; the ``spare`` one (an ``s`` after the digest) serves while
    AWS keeps the first name blocked (``QueueDeletedRecently``)."""
    stem = topic.name.removesuffix(".fifo")
    digest = hashlib.sha256(topic.arn.encode()).hexdigest()[:8]
    head = f"{conn.prefix}{TAP_MARK}"
    room = 80 - len(head) - len(digest) - 2 - (5 if topic.fifo else 0)
    mark = SPARE_MARK if spare else ""
    return f"{head}{stem[:room]}-{digest}{mark}" + (".fifo" if topic.fifo else "")


def tap_names(conn: Connection, topic: Topic) -> tuple[str, str]:
    """Both names a topic's tap may have: the usual one and the spare."""
    return tap_queue_name(conn, topic), tap_queue_name(conn, topic, spare=True)


def topic_stub(topic_arn: str) -> Topic:
    """A topic known only by its ARN (enough to name its tap)."""
    return Topic(arn=topic_arn, name=arn_name(topic_arn), fifo=topic_arn.endswith(".fifo"))


def tap_name_for(conn: Connection, topic_arn: str) -> str:
    """The tap queue name of a topic known only by its ARN."""
    return tap_queue_name(conn, topic_stub(topic_arn))


def tap_queue_arn(topic_arn: str, name: str) -> str:
    """A tap queue lives in the topic's partition, region and account: its ARN follows."""
    partition, _service, region, account = topic_arn.split(":")[1:5]
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def _tap_policy(queue_arn: str, topic_arn: str) -> str:
    """Only the tapped topic may send to the tap (the statement ``queue_policy_allow`` writes)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": POLICY_SID,
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": [topic_arn]}},
                }
            ],
        }
    )


def tap_ensure(conn: Connection, topic: Topic) -> Tap:
    """Create (or adopt) the topic's tap queue and subscription: two requests. Idempotent:
    CreateQueue with the same attributes and Subscribe with the same endpoint return
    what exists. While AWS blocks the usual name (deleted less than 60 s ago, as when
    Flowdash stopped and started again), the spare name serves."""
    conn.write_check()
    try:
        return _tap_make(conn, topic, tap_queue_name(conn, topic))
    except FlowdashError as exc:  # an HTTP 400 with its own code: InvalidInput here
        if DELETED_RECENTLY not in (exc.code or ""):
            raise
    return _tap_make(conn, topic, tap_queue_name(conn, topic, spare=True))


def _tap_make(conn: Connection, topic: Topic, name: str) -> Tap:
    queue_arn = tap_queue_arn(topic.arn, name)
    attributes: dict[QueueAttributeNameType, str] = {
        "MessageRetentionPeriod": str(TAP_RETENTION_SECONDS),
        "Policy": _tap_policy(queue_arn, topic.arn),
    }
    if topic.fifo:
        attributes["FifoQueue"] = "true"
    tags = dict(TAGS)
    if len(topic.arn) <= TAG_VALUE_MAX:
        tags[TAP_OF_TAG] = topic.arn
    try:
        with aws_errors():
            url = conn.sqs.create_queue(QueueName=name, Attributes=attributes, tags=tags)[
                "QueueUrl"
            ]
    except ResourceConflict:
        # A tap made by an older Flowdash, with other attributes: adopt it as it is
        # and put the policy on it.
        with aws_errors():
            url = conn.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            conn.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": attributes["Policy"]})
    with aws_errors():
        arn = conn.sns.subscribe(
            TopicArn=topic.arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "false"},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
    return Tap(topic_arn=topic.arn, queue_url=url, queue_arn=queue_arn, subscription_arn=arn)


def tap_topic(conn: Connection, *, queue_url: str) -> str | None:
    """The topic a tap queue was made for, from its tag (None for an untagged tap)."""
    with aws_errors():
        tags = conn.sqs.list_queue_tags(QueueUrl=queue_url).get("Tags", {})
    return tags.get(TAP_OF_TAG)


def tap_remove(conn: Connection, *, queue_url: str, subscription_arns: list[str]) -> None:
    """Unsubscribe a tap and delete its queue; what is already gone is skipped."""
    conn.write_check()
    for arn in subscription_arns:
        if not arn.startswith("arn:"):
            continue
        try:
            with aws_errors():
                conn.sns.unsubscribe(SubscriptionArn=arn)
        except ResourceNotFound:
            pass
    try:
        with aws_errors():
            conn.sqs.delete_queue(QueueUrl=queue_url)
    except ResourceNotFound:
        pass


def tap_cleanup(conn: Connection) -> list[str]:
    """Delete every tap queue under the prefix and its subscriptions, as when Flowdash
    leaves an account for good; a running watcher makes new ones for the topics it
    watches. Returns the names of the queues deleted."""
    conn.write_check()
    with aws_errors():
        pages = conn.sqs.get_paginator("list_queues").paginate(
            QueueNamePrefix=conn.prefix + TAP_MARK
        )
        urls = [url for page in pages for url in page.get("QueueUrls", [])]
        names = {url_name(url) for url in urls}
        subscriptions: dict[str, list[str]] = {}
        for page in conn.sns.get_paginator("list_subscriptions").paginate():
            for sub in page.get("Subscriptions", []):
                if sub.get("Protocol") == "sqs" and arn_name(sub.get("Endpoint", "")) in names:
                    name = arn_name(sub["Endpoint"])
                    subscriptions.setdefault(name, []).append(sub.get("SubscriptionArn", ""))
    for url in urls:
        tap_remove(conn, queue_url=url, subscription_arns=subscriptions.get(url_name(url), []))
    return sorted(names)
