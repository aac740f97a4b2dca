"""Discovery and the tap footprint on the outside path, against a real moto server.

Another program (a plain boto3 client with its own credentials) creates and deletes
resources; the engine, at its default listing cadence, must see each within 5 s,
tap a new topic at once, delete a tap when its topic goes and when it stops, and
remove at start what a killed Flowdash left. Requests are counted by the
connection's own counter (what ``/healthz`` shows).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import boto3
import pytest

from messaging import resources, taps
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.engine import FlowEngine
from messaging.events import FlowEmitter, FlowEvent
from messaging.watcher import Watcher

#: The shipped listing cadence (the Watcher's default), quick depth samples.
OPTIONS = {"depth_fast": 0.2, "depth_slow": 5.0, "tap_wait_seconds": 1}
DEFAULT_REFRESH = Watcher.__init__.__kwdefaults__["refresh_seconds"]
DISCOVERY_LIMIT = 5.0


@pytest.fixture
def conn(moto_url: str) -> Connection:
    return Connection(BackendConfig(observer="outside"), endpoint_url=moto_url)


@pytest.fixture
def other(moto_url: str) -> tuple[Any, Any]:
    """Another program's SNS and SQS clients (not Flowdash's, so not counted)."""
    session = boto3.session.Session(
        aws_access_key_id="someone", aws_secret_access_key="else", region_name="us-east-1"
    )
    return session.client("sns", endpoint_url=moto_url), session.client(
        "sqs", endpoint_url=moto_url
    )


class Seen:
    """Flow events with the monotonic time each was emitted."""

    def __init__(self, emitter: FlowEmitter) -> None:
        self.events: list[tuple[float, FlowEvent]] = []
        emitter.subscribe(lambda e: self.events.append((time.monotonic(), e)))

    def changed(self, kind: str, action: str, arn: str) -> float | None:
        for at, e in self.events:
            if getattr(e, "type", "") == "resource_changed" and (e.kind, e.action, e.arn) == (
                kind,
                action,
                arn,
            ):
                return at
        return None

    def published(self, trace: str) -> bool:
        return any(
            getattr(e, "type", "") == "published" and e.trace == trace for _, e in self.events
        )


async def until(predicate: Any, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.02)


def tap_queues(sqs: Any) -> list[str]:
    urls = sqs.list_queues().get("QueueUrls", [])
    return sorted(u for u in urls if resources.url_name(u).startswith(resources.TAP_MARK))


def tap_subscriptions(sns: Any) -> list[dict[str, str]]:
    return [
        s for s in sns.list_subscriptions()["Subscriptions"]
        if resources.arn_name(s["Endpoint"]).startswith(resources.TAP_MARK)
    ]  # fmt: skip


async def test_what_another_program_makes_shows_within_5_s(conn: Connection, other) -> None:
    sns, sqs = other
    emitter = FlowEmitter()
    seen = Seen(emitter)
    engine = FlowEngine(conn, emitter, watcher_options=OPTIONS)
    assert engine.watcher.refresh_seconds == DEFAULT_REFRESH < DISCOVERY_LIMIT
    try:
        await engine.start()
        made_at = time.monotonic()
        topic = sns.create_topic(Name="orders")["TopicArn"]
        queue_urls = [sqs.create_queue(QueueName=f"orders-{n}")["QueueUrl"] for n in range(3)]
        queue_arns = [
            sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            for u in queue_urls
        ]
        subs = [
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=a)["SubscriptionArn"]
            for a in queue_arns
        ]
        wanted = [("topic", topic)] + [("queue", a) for a in queue_arns]
        wanted += [("subscription", s) for s in subs]
        await until(lambda: all(seen.changed(k, "created", a) for k, a in wanted), within=10)
        latency = max(seen.changed(k, "created", a) or 0 for k, a in wanted) - made_at
        assert latency < DISCOVERY_LIMIT, f"found after {latency:.2f} s"
        # Tapped at once: every publication from then on is seen.
        await until(lambda: len(tap_subscriptions(sns)) == 1, within=2)
        ids = [sns.publish(TopicArn=topic, Message=f"m{n}")["MessageId"] for n in range(5)]
        await until(lambda: all(seen.published(i) for i in ids), within=5)
        # The tap is Flowdash's plumbing: not in the topology it shows.
        topology = engine.watcher.index.topology
        assert {q.arn for q in topology.queues} == set(queue_arns)
        assert {s.arn for s in topology.subscriptions} == set(subs)
        # Deletions show as quickly.
        gone_at = time.monotonic()
        sqs.delete_queue(QueueUrl=queue_urls[0])
        sns.unsubscribe(SubscriptionArn=subs[1])
        await until(
            lambda: (
                seen.changed("queue", "deleted", queue_arns[0])
                and seen.changed("subscription", "deleted", subs[1])
            ),
            within=10,
        )
        latency = max(
            seen.changed("queue", "deleted", queue_arns[0]) or 0,
            seen.changed("subscription", "deleted", subs[1]) or 0,
        ) - gone_at  # fmt: skip
        assert latency < DISCOVERY_LIMIT, f"deletion found after {latency:.2f} s"
    finally:
        await engine.stop()


async def test_listings_read_attributes_only_for_what_is_new(conn: Connection, other) -> None:
    sns, sqs = other
    topic = sns.create_topic(Name="quiet")["TopicArn"]
    queue = sqs.create_queue(QueueName="quiet-q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    engine = FlowEngine(
        conn, FlowEmitter(),
        watcher_options={**OPTIONS, "refresh_seconds": 0.3, "depth_slow": 60.0},
    )  # fmt: skip
    try:
        await engine.start()
        await asyncio.sleep(1.0)  # the tap is made, the sampler backs off
        before = Counter(conn.requests.snapshot())
        await asyncio.sleep(3.0)  # about ten listing rounds
        spent = Counter(conn.requests.snapshot())
        spent.subtract(before)
        rounds = spent["sns.ListTopics"]
        assert rounds >= 6, spent
        # A count may fall between a round's calls: each listing once a round, give or take one.
        assert abs(spent["sqs.ListQueues"] - rounds) <= 1, spent
        assert abs(spent["sns.ListSubscriptions"] - rounds) <= 1, spent
        reads = {k: v for k, v in spent.items() if "Attributes" in k and v}
        # Only depth samples, a handful: no attribute reads for known resources.
        assert set(reads) <= {"sqs.GetQueueAttributes"} and sum(reads.values()) <= 4, spent
        # A new queue: one read of its attributes, once.
        before = Counter(conn.requests.snapshot())
        sqs.create_queue(QueueName="quiet-new")
        await until(lambda: len(engine.watcher.index.queues) == 2, within=3)
        await asyncio.sleep(0.7)
        spent = Counter(conn.requests.snapshot())
        spent.subtract(before)
        assert spent["sns.GetTopicAttributes"] == 0 and spent["sns.GetSubscriptionAttributes"] == 0
        assert 1 <= spent["sqs.GetQueueAttributes"] <= 3, spent  # the read, then depth samples
    finally:
        await engine.stop()


async def test_one_tagged_tap_per_topic_gone_with_its_topic_and_at_stop(
    conn: Connection, other
) -> None:
    sns, sqs = other
    kept = sns.create_topic(Name="kept")["TopicArn"]
    doomed = sns.create_topic(Name="doomed")["TopicArn"]
    engine = FlowEngine(conn, FlowEmitter(), watcher_options=OPTIONS)
    try:
        await engine.start()
        urls = tap_queues(sqs)
        assert len(urls) == 2 and len(tap_subscriptions(sns)) == 2
        for url in urls:
            tags = sqs.list_queue_tags(QueueUrl=url)["Tags"]
            assert tags["managed-by"] == "flowdash"
            assert resources.url_name(url) == taps.tap_name_for(conn, tags[taps.TAP_OF_TAG])
        await asyncio.sleep(2 * DEFAULT_REFRESH)  # more listings: still one tap each
        assert tap_queues(sqs) == urls and len(tap_subscriptions(sns)) == 2
        deleted_at = time.monotonic()
        sns.delete_topic(TopicArn=doomed)
        await until(lambda: len(tap_queues(sqs)) == 1, within=10)
        assert time.monotonic() - deleted_at < DISCOVERY_LIMIT
        (left,) = tap_queues(sqs)
        assert resources.url_name(left) == taps.tap_name_for(conn, kept)
        assert [s["TopicArn"] for s in tap_subscriptions(sns)] == [kept]
    finally:
        await engine.stop()
    # Flowdash stopped watching: nothing of it is left.
    assert tap_queues(sqs) == [] and tap_subscriptions(sns) == []


async def test_a_killed_flowdashs_taps_are_adopted_or_removed_at_start(
    conn: Connection, other
) -> None:
    sns, sqs = other
    live = sns.create_topic(Name="live")["TopicArn"]
    gone = sns.create_topic(Name="gone")["TopicArn"]
    # What a Flowdash killed mid-watch leaves: a tap for each topic, then one topic
    # deleted while no Flowdash ran (its subscription may outlive it, as on AWS).
    for arn in (live, gone):
        taps.tap_ensure(conn, resources.topic_get(conn, arn=arn))
    sns.delete_topic(TopicArn=gone)
    assert len(tap_queues(sqs)) == 2
    engine = FlowEngine(conn, FlowEmitter(), watcher_options=OPTIONS)
    try:
        await engine.start()
        await until(lambda: len(tap_queues(sqs)) == 1, within=DISCOVERY_LIMIT)
        (url,) = tap_queues(sqs)
        assert resources.url_name(url) == taps.tap_name_for(conn, live)
        assert [s["TopicArn"] for s in tap_subscriptions(sns)] == [live]
        # The adopted tap works: a publication by someone else is seen.
        emitter_seen = Seen(engine.emitter)
        message = sns.publish(TopicArn=live, Message="after the restart")["MessageId"]
        await until(lambda: emitter_seen.published(message), within=5)
    finally:
        await engine.stop()
    assert tap_queues(sqs) == []


async def test_taps_off_adds_nothing_and_still_shows_depth(conn: Connection, other) -> None:
    sns, sqs = other
    topic = sns.create_topic(Name="untapped")["TopicArn"]
    queue = sqs.create_queue(QueueName="untapped-q")["QueueUrl"]
    emitter = FlowEmitter()
    seen = Seen(emitter)
    engine = FlowEngine(
        conn, emitter, watcher_options={**OPTIONS, "refresh_seconds": 0.5, "taps": False}
    )
    try:
        await engine.start()
        assert not engine.watcher.tapping
        assert topic in engine.watcher.index.topics
        sqs.send_message(QueueUrl=queue, MessageBody="seen as depth only")
        arn = next(iter(engine.watcher.index.queues))
        await until(lambda: engine.watcher.depths[arn].visible == 1, within=10)
        published = sns.publish(TopicArn=topic, Message="unseen")["MessageId"]
        await asyncio.sleep(1.5)
        assert not seen.published(published)
        assert tap_queues(sqs) == [] and sns.list_subscriptions()["Subscriptions"] == []
        assert not any("Subscribe" in op or "CreateQueue" in op for op in conn.requests.snapshot())
    finally:
        await engine.stop()


async def test_settings_another_program_changes_show_at_the_periodic_reread(
    conn: Connection, other
) -> None:
    """No listing shows a changed filter policy or topic attribute: the topics' and
    subscriptions' attributes are re-read every ``attributes_seconds``."""
    sns, sqs = other
    topic = sns.create_topic(Name="settings")["TopicArn"]
    url = sqs.create_queue(QueueName="settings-q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    emitter = FlowEmitter()
    seen = Seen(emitter)
    engine = FlowEngine(
        conn, emitter,
        watcher_options={**OPTIONS, "refresh_seconds": 0.3, "attributes_seconds": 2.0},
    )  # fmt: skip
    try:
        await engine.start()
        sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue='{"kind": ["a"]}'
        )
        sns.set_topic_attributes(TopicArn=topic, AttributeName="DisplayName", AttributeValue="X")
        await until(
            lambda: (
                seen.changed("subscription", "changed", sub)
                and seen.changed("topic", "changed", topic)
            ),
            within=5,
        )
        (shown,) = engine.watcher.index.subscriptions_by_topic[topic]
        assert shown.filter_policy is not None and "kind" in shown.filter_policy
        assert engine.watcher.index.topics[topic].attributes["DisplayName"] == "X"
    finally:
        await engine.stop()


async def test_without_topics_no_subscriptions_are_listed(conn: Connection, other) -> None:
    """Subscriptions belong to topics: with none (and no tap left), listing them is waste."""
    _sns, sqs = other
    sqs.create_queue(QueueName="alone")
    engine = FlowEngine(conn, FlowEmitter(), watcher_options={**OPTIONS, "refresh_seconds": 0.3})
    try:
        await engine.start()
        await asyncio.sleep(2.0)
        counts = conn.requests.snapshot()
        assert counts.get("sns.ListTopics", 0) >= 5 and counts.get("sqs.ListQueues", 0) >= 5
        assert counts.get("sns.ListSubscriptions", 0) == 0, counts
        assert counts.get("sns.ListSubscriptionsByTopic", 0) == 0, counts
    finally:
        await engine.stop()
