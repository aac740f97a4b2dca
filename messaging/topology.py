"""Everything Flowdash shows at once: topics, queues and the subscriptions between them,
and the mobile-push applications and device endpoints that topics deliver to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .connection import Connection
from .errors import AccessDenied
from .push import PlatformApplication, PlatformEndpoint, push_topology
from .resources import Queue, Topic, queue_list, topic_list
from .subscriptions import Subscription, subscription_list


@dataclass(frozen=True, slots=True, kw_only=True)
class Topology:
    topics: list[Topic]
    queues: list[Queue]
    subscriptions: list[Subscription]
    #: Mobile push: platform applications and their devices (``messaging.push``).
    applications: list[PlatformApplication] = field(default_factory=list)
    endpoints: list[PlatformEndpoint] = field(default_factory=list)


def topology_get(conn: Connection, *, known: Mapping[str, Queue] | None = None) -> Topology:
    """One read of the whole picture; costs about one request per resource, less the
    queues in ``known`` (by URL), whose attributes are reused."""
    topics = topic_list(conn)
    queues = queue_list(conn, known=known)
    subscriptions = [
        sub for topic in topics for sub in subscription_list(conn, topic_arn=topic.arn)
    ]
    return _with_push(conn, Topology(topics=topics, queues=queues, subscriptions=subscriptions))


def _with_push(conn: Connection, topology: Topology) -> Topology:
    """The topology with the mobile-push applications and devices: one ListPlatform-
    Applications and one ListEndpointsByPlatformApplication per application. A role that
    may not list them (``aws``) sees topics and queues without them."""
    try:
        applications, endpoints = push_topology(conn)
    except AccessDenied:
        return topology
    return replace(topology, applications=applications, endpoints=endpoints)


class TopologyIndex:
    """Lookups the engine makes for every message, built once per topology read."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.topics = {t.arn: t for t in topology.topics}
        self.queues = {q.arn: q for q in topology.queues}
        self.subscriptions_by_topic: dict[str, list[Subscription]] = {}
        self.raw_topics_by_queue: dict[str, set[str]] = {}
        for sub in topology.subscriptions:
            self.subscriptions_by_topic.setdefault(sub.topic_arn, []).append(sub)
            if sub.protocol == "sqs" and sub.raw_message_delivery:
                self.raw_topics_by_queue.setdefault(sub.endpoint, set()).add(sub.topic_arn)

    @classmethod
    def empty(cls) -> TopologyIndex:
        return cls(Topology(topics=[], queues=[], subscriptions=[]))
