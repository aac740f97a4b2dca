"""Everything Flowdash shows at once: topics, queues and the subscriptions between them."""

from __future__ import annotations

from dataclasses import dataclass

from .connection import Connection
from .resources import Queue, Topic, queue_list, topic_list
from .subscriptions import Subscription, subscription_list


@dataclass(frozen=True, slots=True, kw_only=True)
class Topology:
    topics: list[Topic]
    queues: list[Queue]
    subscriptions: list[Subscription]


def topology_get(conn: Connection) -> Topology:
    """One read of the whole picture; costs about one request per resource."""
    topics = topic_list(conn)
    queues = queue_list(conn)
    subscriptions = [
        sub for topic in topics for sub in subscription_list(conn, topic_arn=topic.arn)
    ]
    return Topology(topics=topics, queues=queues, subscriptions=subscriptions)
