"""Everything Flowdash shows at once: topics, queues and the subscriptions between them,
and the mobile-push applications and device endpoints that topics deliver to.

Two ways to read it:

- ``topology_get``: one whole read, for a page or an export. It costs about one
  request per resource (attributes are not in the List* answers).
- ``topology_list`` then ``topology_update``: what the watcher does every few
  seconds. The listings (ListTopics, ListQueues, ListSubscriptions: one request
  per page of 100 topics, 1,000 queues, 100 subscriptions) are shared by every
  resource, so they can run often; attributes are read only for what the listing
  shows to be new (and, on request, again for everything). A topic missing from
  a listing is confirmed gone with one GetTopicAttributes before it is dropped,
  because its disappearance deletes its tap.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, TypeVar

from .connection import Connection
from .errors import AccessDenied, ResourceNotFound, aws_errors
from .push import PlatformApplication, PlatformEndpoint, push_topology
from .resources import (
    TAP_MARK,
    Queue,
    Topic,
    arn_name,
    is_listed,
    queue_get,
    queue_list,
    topic_get,
    topic_list,
    url_name,
)
from .subscriptions import Subscription, listed_subscription, subscription_list

#: How subscriptions are listed: not at all (no topics), account-wide ListSubscriptions
#: (one request per 100 subscriptions in the account), or ListSubscriptionsByTopic per topic.
SubscriptionListing = Literal["none", "account", "by_topic"]

_R = TypeVar("_R")


@dataclass(frozen=True, slots=True, kw_only=True)
class Topology:
    topics: list[Topic]
    queues: list[Queue]
    subscriptions: list[Subscription]
    #: Mobile push: platform applications and their devices (``messaging.push``).
    applications: list[PlatformApplication] = field(default_factory=list)
    endpoints: list[PlatformEndpoint] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListedSubscription:
    """A subscription as the listings give it: no filter policy, no raw delivery flag."""

    arn: str  #: "PendingConfirmation" while an HTTP or email endpoint has not confirmed
    topic_arn: str
    protocol: str
    endpoint: str

    @property
    def key(self) -> str:
        """Stable identity, also for a pending subscription (which has no ARN yet)."""
        if self.arn.startswith("arn:"):
            return self.arn
        return f"pending:{self.topic_arn}:{self.protocol}:{self.endpoint}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Listing:
    """What one round of listing calls shows: names and ARNs, no attributes."""

    topic_arns: list[str]  #: the user's topics under the prefix
    queue_urls: list[str]  #: the user's queues under the prefix (taps excluded)
    tap_urls: list[str]  #: Flowdash's own tap queues
    #: Subscriptions of the listed topics, and any subscription whose endpoint is a
    #: tap queue (a deleted topic's subscriptions can outlive it: AWS, LocalStack).
    subscriptions: list[ListedSubscription]
    #: Requests the subscriptions took (pages), to choose the cheaper way next time.
    subscription_requests: int


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


def is_tap(conn: Connection, name: str) -> bool:
    """Whether a queue name is one of Flowdash's tap queues."""
    return name.startswith(conn.prefix + TAP_MARK)


def topology_list(conn: Connection, *, subscriptions: SubscriptionListing) -> Listing:
    """The listings only: ListTopics, ListQueues and, unless ``"none"`` or there is no
    topic and no tap, the subscriptions."""
    topic_arns: list[str] = []
    queue_urls: list[str] = []
    tap_urls: list[str] = []
    with aws_errors():
        for page in conn.sns.get_paginator("list_topics").paginate():
            topic_arns.extend(
                t["TopicArn"]
                for t in page.get("Topics", [])
                if is_listed(conn, arn_name(t["TopicArn"]))
            )
        queue_pages = conn.sqs.get_paginator("list_queues")
        pages = (
            queue_pages.paginate(QueueNamePrefix=conn.prefix)
            if conn.prefix
            else queue_pages.paginate()
        )
        for queues in pages:
            for url in queues.get("QueueUrls", []):
                name = url_name(url)
                if is_tap(conn, name):
                    tap_urls.append(url)
                elif is_listed(conn, name):
                    queue_urls.append(url)
    if not topic_arns and not tap_urls:
        subscriptions = "none"  # no topic, no tap: no subscription of Flowdash's concern
    listed, requests = _subscriptions_listed(
        conn, topic_arns=topic_arns, tap_names={url_name(u) for u in tap_urls}, how=subscriptions
    )
    return Listing(
        topic_arns=sorted(topic_arns),
        queue_urls=sorted(queue_urls, key=url_name),
        tap_urls=sorted(tap_urls),
        subscriptions=listed,
        subscription_requests=requests,
    )


def _subscriptions_listed(
    conn: Connection, *, topic_arns: list[str], tap_names: set[str], how: SubscriptionListing
) -> tuple[list[ListedSubscription], int]:
    if how == "none":
        return [], 0
    wanted = set(topic_arns)
    found: list[ListedSubscription] = []
    requests = 0
    with aws_errors():
        if how == "account":
            for page in conn.sns.get_paginator("list_subscriptions").paginate():
                requests += 1
                for sub in page.get("Subscriptions", []):
                    listed = _listed(sub)
                    if listed.topic_arn in wanted or (
                        listed.protocol == "sqs" and arn_name(listed.endpoint) in tap_names
                    ):
                        found.append(listed)
            return found, requests
        for arn in topic_arns:
            pages = conn.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
            for page in pages:
                requests += 1
                found.extend(_listed(sub) for sub in page.get("Subscriptions", []))
    return found, requests


def _listed(sub: Mapping[str, object]) -> ListedSubscription:
    return ListedSubscription(
        arn=str(sub.get("SubscriptionArn", "")),
        topic_arn=str(sub.get("TopicArn", "")),
        protocol=str(sub.get("Protocol", "")),
        endpoint=str(sub.get("Endpoint", "")),
    )


def user_subscriptions(conn: Connection, listing: Listing) -> list[ListedSubscription]:
    """The listed subscriptions that are the user's: a tap's is Flowdash's plumbing, and
    an SQS subscription to a queue outside the prefix is outside Flowdash's view."""
    topics = set(listing.topic_arns)
    return [
        s
        for s in listing.subscriptions
        if s.topic_arn in topics
        and not (s.protocol == "sqs" and not is_listed(conn, arn_name(s.endpoint)))
    ]


def _known_or_read(
    listed: Iterable[str], known: Mapping[str, _R], *, fresh: bool, read: Callable[[str], _R]
) -> list[_R]:
    """The listed resources: as already known, or read (when new, or ``fresh`` is asked
    for); one deleted between the listing and its read is left out."""
    found: list[_R] = []
    for key in listed:
        if key in known and not fresh:
            found.append(known[key])
            continue
        try:
            found.append(read(key))
        except ResourceNotFound:
            continue
    return found


def topology_update(
    conn: Connection,
    *,
    previous: Topology,
    listing: Listing,
    reread: Collection[Literal["topics", "queues", "subscriptions"]] = (),
) -> Topology:
    """The topology the listing shows, reading attributes only for new resources and
    for the kinds named in ``reread`` (after Flowdash changed something, or periodically
    for what no sample shows: topic attributes, filter policies)."""
    old_topics = {t.arn: t for t in previous.topics}
    topics = _known_or_read(
        listing.topic_arns, old_topics, fresh="topics" in reread,
        read=lambda arn: topic_get(conn, arn=arn),
    )  # fmt: skip
    listed_topics = set(listing.topic_arns)
    for arn, topic in old_topics.items():
        if arn not in listed_topics and _topic_exists(conn, arn):
            topics.append(topic)  # not yet (or no longer) in an eventually consistent listing
    topics.sort(key=lambda t: t.arn)

    queues = _known_or_read(
        listing.queue_urls, {q.url: q for q in previous.queues}, fresh="queues" in reread,
        read=lambda url: queue_get(conn, url=url),
    )  # fmt: skip

    topic_arns = {t.arn for t in topics}
    old_subs = {_key(s): s for s in previous.subscriptions}
    subscriptions: list[Subscription] = []
    listed_keys = set()
    for listed in user_subscriptions(conn, listing):
        listed_keys.add(listed.key)
        old = old_subs.get(listed.key)
        if old is not None and "subscriptions" not in reread:
            subscriptions.append(old)
            continue
        subscriptions.append(
            listed_subscription(
                conn,
                {
                    "SubscriptionArn": listed.arn,
                    "TopicArn": listed.topic_arn,
                    "Protocol": listed.protocol,
                    "Endpoint": listed.endpoint,
                },
            )
        )
    # A kept topic that the listing missed keeps its subscriptions too.
    subscriptions.extend(
        s
        for key, s in old_subs.items()
        if key not in listed_keys and s.topic_arn in topic_arns - listed_topics
    )
    updated = Topology(topics=topics, queues=queues, subscriptions=subscriptions)
    # Push applications and devices have no cheap listing: read with any re-read, and
    # while there are some; otherwise a new one shows with the next periodic re-read.
    if reread or previous.applications:
        return _with_push(conn, updated)
    return updated


def _key(sub: Subscription) -> str:
    return ListedSubscription(
        arn=sub.arn, topic_arn=sub.topic_arn, protocol=sub.protocol, endpoint=sub.endpoint
    ).key


def _topic_exists(conn: Connection, arn: str) -> bool:
    try:
        topic_get(conn, arn=arn)
    except ResourceNotFound:
        return False
    return True


class TopologyIndex:
    """Lookups the engine makes for every message, built once per topology read."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.topics = {t.arn: t for t in topology.topics}
        self.queues = {q.arn: q for q in topology.queues}
        #: Device endpoints by ARN, with their ``Enabled`` state as the last read saw it.
        self.endpoints = {e.arn: e for e in topology.endpoints}
        self.subscriptions_by_topic: dict[str, list[Subscription]] = {}
        self.raw_topics_by_queue: dict[str, set[str]] = {}
        for sub in topology.subscriptions:
            self.subscriptions_by_topic.setdefault(sub.topic_arn, []).append(sub)
            if sub.protocol == "sqs" and sub.raw_message_delivery:
                self.raw_topics_by_queue.setdefault(sub.endpoint, set()).add(sub.topic_arn)

    def endpoint_disabled(self, endpoint_arn: str) -> bool:
        """Whether SNS delivers nothing to this device: its endpoint is known and disabled.

        Known from the topology reads (``ListEndpointsByPlatformApplication`` gives every
        device's attributes, one request per application), never asked per publication.
        A device the last read did not show (created since, or a role that may not list
        applications) counts as enabled, as the policy alone would say."""
        endpoint = self.endpoints.get(endpoint_arn)
        return endpoint is not None and not endpoint.enabled

    @classmethod
    def empty(cls) -> TopologyIndex:
        return cls(Topology(topics=[], queues=[], subscriptions=[]))


def push_changes(old: Topology, new: Topology) -> list[tuple[str, str, str]]:
    """``(kind, action, arn)`` for each platform application and device endpoint that
    appeared, went or changed (switched on or off, new custom user data) between two
    reads: what the outside path announces as ``resource_changed``, in the words the
    embedded observer uses (kinds ``application`` and ``endpoint``), so a viewer
    resyncs and draws a device switched off as such whichever path watches."""
    changes: list[tuple[str, str, str]] = []
    pairs: tuple[tuple[str, Mapping[str, object], Mapping[str, object]], ...] = (
        ("application", {a.arn: a for a in old.applications}, {a.arn: a for a in new.applications}),
        ("endpoint", {e.arn: e for e in old.endpoints}, {e.arn: e for e in new.endpoints}),
    )
    for kind, before, after in pairs:
        changes.extend((kind, "created", arn) for arn in sorted(after.keys() - before.keys()))
        changes.extend((kind, "deleted", arn) for arn in sorted(before.keys() - after.keys()))
        changes.extend(
            (kind, "changed", arn)
            for arn in sorted(after.keys() & before.keys())
            if after[arn] != before[arn]
        )
    return changes
