"""One contract test per flow event type (house style 17, Zulip's ``verify_action``).

Each test makes the change happen for real against the embedded moto: another
program's plain boto3 calls, or Flowdash's own workers and API where only they make
the event (``processed``/``failed`` by a Flowdash worker, ``workers`` changes).
``Flow.verify`` checks every event against its dataclass and that the events bring
the old snapshot to the fresh one; the test then checks what the events say.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from messaging.publishing import received_message, topic_publish
from messaging.reports import FLOWDASH_CLIENT
from messaging.workers import WorkerSpec

from .apply import topology_differences
from .verify import Flow, Verified, covers

#: Flowdash workers that process at once and poll briefly, so a test waits on nothing.
QUICK = WorkerSpec(count=1, min_ms=0, max_ms=0, wait_seconds=1)


# --- Setup steps: another program's calls, run in a thread by ``flow.run``


async def queue_make(flow: Flow, name: str, **attributes: str) -> tuple[str, str]:
    """A queue, as another program creates it; returns its URL and ARN."""

    def make() -> tuple[str, str]:
        url = flow.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = flow.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    return await flow.run(make)


async def topic_make(flow: Flow, name: str) -> str:
    return await flow.run(lambda: flow.sns.create_topic(Name=name)["TopicArn"])


async def subscribe(flow: Flow, topic: str, queue_arn: str, **attributes: str) -> str:
    return await flow.run(
        lambda: flow.sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
    )  # fmt: skip


async def send(flow: Flow, url: str, body: str = "hello", **options: Any) -> str:
    return await flow.run(
        lambda: flow.sqs.send_message(QueueUrl=url, MessageBody=body, **options)["MessageId"]
    )


async def receive(flow: Flow, url: str, *, visibility: int = 30) -> dict[str, Any]:
    def take() -> dict[str, Any]:
        [message] = flow.sqs.receive_message(QueueUrl=url, VisibilityTimeout=visibility)["Messages"]
        return message

    return await flow.run(take)


def workers_start(flow: Flow, queue_arn: str, spec: WorkerSpec = QUICK) -> None:
    """Flowdash's own workers on a queue, through the engine (on the loop: it starts tasks)."""
    flow.engine.workers_set(queue_arn, spec)


def depth_last(verified: Verified, queue_arn: str) -> dict[str, int]:
    *_, last = verified.of("depth", queue_arn=queue_arn)
    return {k: last[k] for k in ("visible", "in_flight", "delayed")}


def resource_changes(verified: Verified) -> list[tuple[str, str, str]]:
    return [(e["kind"], e["action"], e["arn"]) for e in verified.of("resource_changed")]


def outside_consumer_check(name: str, queue_name: str) -> None:
    """The name the protocol gives another program consuming a queue: ``<client> on <queue>``."""
    client, _, on = name.partition(" on ")
    assert client.startswith("Boto3/") and on == queue_name, name


# --- Message events


@covers("published")
async def test_published_to_a_topic(flow: Flow) -> None:
    topic = await topic_make(flow, "news")

    def publish() -> str:
        return flow.sns.publish(
            TopicArn=topic, Message="hello", Subject="greeting",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}},
        )["MessageId"]  # fmt: skip

    ids: list[str] = []
    verified = await flow.verify(lambda: ids.append(publish()), emits={"published"})
    assert verified.kinds() == ["published"]  # no subscription: nothing else happens
    published = verified.one("published")
    assert published["trace_id"] == ids[0]
    assert published["topic_arn"] == topic and published["queue_arn"] is None
    assert (published["subject"], published["body"]) == ("greeting", "hello")
    assert published["attributes"] == {"kind": {"Type": "String", "Value": "order"}}
    assert published["source"] == "external" and published["client"].startswith("Boto3/")


@covers("published", "depth")
async def test_published_to_a_queue(flow: Flow) -> None:
    url, arn = await queue_make(flow, "inbox")
    ids: list[str] = []

    async def act() -> None:
        ids.append(await send(flow, url, "straight in"))

    verified = await flow.verify(act, emits={"published", "depth"})
    published = verified.one("published")
    assert published["trace_id"] == ids[0]
    assert published["queue_arn"] == arn and published["topic_arn"] is None
    assert published["body"] == "straight in" and published["source"] == "external"
    assert depth_last(verified, arn) == {"visible": 1, "in_flight": 0, "delayed": 0}


@covers("published")
async def test_published_by_flowdash_says_so(flow: Flow) -> None:
    topic = await topic_make(flow, "ours")
    conn = flow.engine.conn
    ids: list[str] = []

    def publish() -> None:
        ids.append(topic_publish(conn, topic_arn=topic, body="from the dashboard").message_id)

    verified = await flow.verify(publish, emits={"published"})
    published = verified.one("published", trace_id=ids[0])
    assert (published["source"], published["client"]) == ("flowdash", FLOWDASH_CLIENT)


@covers("delivered")
async def test_delivered_to_a_subscribed_queue(flow: Flow) -> None:
    topic = await topic_make(flow, "orders")
    url, arn = await queue_make(flow, "billing")
    sub = await subscribe(flow, topic, arn)
    ids: list[str] = []
    verified = await flow.verify(
        lambda: ids.append(flow.sns.publish(TopicArn=topic, Message="o1")["MessageId"]),
        emits={"published", "delivered", "depth"},
    )
    published, delivered = verified.one("published"), verified.one("delivered")
    assert published["seq"] < delivered["seq"]  # a journey starts with its publication
    assert delivered["trace_id"] == published["trace_id"] == ids[0]
    assert (delivered["topic_arn"], delivered["subscription_arn"]) == (topic, sub)
    assert (delivered["protocol"], delivered["endpoint"], delivered["basis"]) == (
        "sqs", arn, "policy",
    )  # fmt: skip
    in_queue = await receive(flow, url)  # after the fact: the copy is the one named
    assert delivered["message_id"] == in_queue["MessageId"]
    assert depth_last(verified, arn) == {"visible": 1, "in_flight": 0, "delayed": 0}


@covers("filtered")
async def test_filtered_by_a_subscription_policy(flow: Flow) -> None:
    topic = await topic_make(flow, "events")
    _, arn = await queue_make(flow, "orders-only")
    sub = await subscribe(flow, topic, arn, FilterPolicy=json.dumps({"kind": ["order"]}))

    def publish(kind: str) -> str:
        return flow.sns.publish(
            TopicArn=topic, Message=kind,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
        )["MessageId"]  # fmt: skip

    ids: dict[str, str] = {}
    verified = await flow.verify(
        lambda: ids.update(refund=publish("refund"), order=publish("order")),
        emits={"filtered", "delivered"},
    )
    filtered = verified.one("filtered")
    assert filtered["trace_id"] == ids["refund"]
    assert (filtered["topic_arn"], filtered["subscription_arn"]) == (topic, sub)
    assert (filtered["protocol"], filtered["endpoint"]) == ("sqs", arn)
    assert filtered["reason"]
    assert verified.one("delivered")["trace_id"] == ids["order"]
    assert depth_last(verified, arn)["visible"] == 1  # only the order arrived


@covers("received", "resource_changed", resource_changes=(("workers", "changed"),))
async def test_received_by_another_program(flow: Flow) -> None:
    url, arn = await queue_make(flow, "jobs")
    trace = await send(flow, url, "job")
    taken: list[dict[str, Any]] = []

    async def act() -> None:
        taken.append(await receive(flow, url))

    verified = await flow.verify(act, emits={"received", "resource_changed", "depth"})
    received = verified.one("received")
    name = received["worker"]
    outside_consumer_check(name, "jobs")
    assert (received["trace_id"], received["queue_arn"]) == (trace, arn)
    assert received["message_id"] == taken[0]["MessageId"] and received["receive_count"] == 1
    # A new consumer changes the picture's shape: viewers resync, and it is in the snapshot.
    assert resource_changes(verified) == [("workers", "changed", arn)]
    assert verified.of("resource_changed")[0]["seq"] < received["seq"]
    assert [w["name"] for w in verified.fresh["workers"]] == [name]
    assert depth_last(verified, arn) == {"visible": 0, "in_flight": 1, "delayed": 0}


@covers("processed")
async def test_processed_by_another_program(flow: Flow) -> None:
    url, arn = await queue_make(flow, "jobs")
    trace = await send(flow, url, "job")
    message = await receive(flow, url)
    verified = await flow.verify(
        lambda: flow.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]),
        emits={"processed", "depth"},
    )
    processed = verified.one("processed")
    outside_consumer_check(processed["worker"], "jobs")
    assert (processed["trace_id"], processed["queue_arn"]) == (trace, arn)
    assert processed["message_id"] == message["MessageId"] and processed["duration_ms"] >= 0
    assert depth_last(verified, arn) == {"visible": 0, "in_flight": 0, "delayed": 0}
    # The consumer that received it is credited, as the snapshot says.
    assert [(w["name"], w["processed"]) for w in verified.fresh["workers"]] == [
        (processed["worker"], 1)
    ]


@covers("processed", "received")
async def test_processed_by_a_flowdash_worker(flow: Flow) -> None:
    url, arn = await queue_make(flow, "work")
    workers_start(flow, arn)
    ids: list[str] = []

    async def act() -> None:
        ids.append(await send(flow, url, "fine"))

    # No depth event need come: the worker may take and delete the message before the
    # observer reads the depth (DEPTH_INTERVAL), and then nothing changed in between.
    verified = await flow.verify(act, emits={"published", "received", "processed"})
    received, processed = verified.one("received"), verified.one("processed")
    assert received["worker"] == processed["worker"] == "work#1"
    assert received["trace_id"] == processed["trace_id"] == ids[0]
    assert received["seq"] < processed["seq"] and received["receive_count"] == 1
    assert verified.fresh["depths"][arn] == {"visible": 0, "in_flight": 0, "delayed": 0}
    assert [(w["name"], w["processed"]) for w in verified.fresh["workers"]] == [("work#1", 1)]


async def participant_take(flow: Flow, url: str, arn: str, name: str) -> Any:
    """What the classroom does when a participant taps "take": a receive through
    Flowdash's own client, reported to the engine under the participant's name."""
    sqs = flow.engine.conn.sqs
    raw = await flow.run(
        lambda: sqs.receive_message(
            QueueUrl=url, VisibilityTimeout=30, MessageSystemAttributeNames=["All"]
        )["Messages"][0]
    )
    message = received_message(raw)
    await flow.engine.workers.external_received(queue_arn=arn, worker=name, message=message)
    return message


@covers("received", "processed")
async def test_received_and_processed_by_a_classroom_participant(flow: Flow) -> None:
    url, arn = await queue_make(flow, "class")
    trace = await send(flow, url, "task")
    held: list[Any] = []

    async def take() -> None:
        held.append(await participant_take(flow, url, arn, "Alice"))

    verified = await flow.verify(take, emits={"received"})
    received = verified.one("received")
    assert received["worker"] == "Alice"
    assert (received["trace_id"], received["queue_arn"]) == (trace, arn)
    assert [w["name"] for w in verified.fresh["workers"]] == ["Alice"]
    message = held[0]
    sqs = flow.engine.conn.sqs

    async def done() -> None:
        handle = message.receipt_handle
        await flow.run(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle=handle))
        await flow.engine.workers.external_outcome(
            queue_arn=arn, worker="Alice", message=message, ok=True, duration_ms=5
        )

    verified = await flow.verify(done, emits={"processed"})
    processed = verified.one("processed")
    assert (processed["worker"], processed["trace_id"], processed["duration_ms"]) == (
        "Alice", trace, 5,
    )  # fmt: skip
    assert verified.fresh["depths"][arn] == {"visible": 0, "in_flight": 0, "delayed": 0}


async def test_a_classroom_participant_leaving_is_announced(flow: Flow) -> None:
    url, arn = await queue_make(flow, "class")
    await send(flow, url, "task")
    await participant_take(flow, url, arn, "Alice")
    await flow.settle()

    async def leave() -> None:
        flow.engine.workers.external_leave("Alice")

    verified = await flow.verify(leave, emits={"resource_changed"})
    assert verified.fresh["workers"] == []


@covers("failed")
async def test_failed_by_a_flowdash_worker(flow: Flow) -> None:
    url, arn = await queue_make(flow, "work")
    workers_start(flow, arn)
    ids: list[str] = []

    async def act() -> None:
        ids.append(await send(flow, url, "a poison pill"))

    verified = await flow.verify(act, emits={"received", "failed", "depth"})
    failed = verified.one("failed")
    assert (failed["worker"], failed["trace_id"], failed["queue_arn"]) == ("work#1", ids[0], arn)
    assert failed["receive_count"] == 1 and "poison" in failed["reason"]
    assert not verified.of("processed")
    # It stays in flight until its visibility timeout lapses (30 s: after this test).
    assert depth_last(verified, arn) == {"visible": 0, "in_flight": 1, "delayed": 0}
    assert [(w["name"], w["failed"]) for w in verified.fresh["workers"]] == [("work#1", 1)]


@covers("visibility_lapsed")
async def test_visibility_lapsed_when_not_deleted_in_time(flow: Flow) -> None:
    url, arn = await queue_make(flow, "slow")
    trace = await send(flow, url, "x")
    verified = await flow.verify(
        lambda: receive(flow, url, visibility=1),
        until=lambda v: bool(v.of("visibility_lapsed")),
        emits={"received", "visibility_lapsed", "depth"},
    )
    received, lapsed = verified.one("received"), verified.one("visibility_lapsed")
    assert lapsed["seq"] > received["seq"]
    assert (lapsed["trace_id"], lapsed["queue_arn"]) == (trace, arn)
    assert (lapsed["message_id"], lapsed["receive_count"]) == (received["message_id"], 1)
    assert depth_last(verified, arn) == {"visible": 1, "in_flight": 0, "delayed": 0}


@covers("visibility_changed")
async def test_visibility_changed_to_let_a_message_go(flow: Flow) -> None:
    url, arn = await queue_make(flow, "held")
    trace = await send(flow, url, "x")
    message = await receive(flow, url)
    verified = await flow.verify(
        lambda: flow.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        ),
        emits={"visibility_changed", "depth"},
    )
    changed = verified.one("visibility_changed")
    assert (changed["trace_id"], changed["queue_arn"]) == (trace, arn)
    assert (changed["message_id"], changed["timeout_seconds"]) == (message["MessageId"], 0)
    # Named as the protocol names the consumer holding it, as its ``received`` was.
    assert [w["name"] for w in verified.old["workers"]] == [changed["worker"]]
    outside_consumer_check(changed["worker"], "held")
    assert not verified.of("visibility_lapsed")  # let go at once: no lapse to come
    assert depth_last(verified, arn) == {"visible": 1, "in_flight": 0, "delayed": 0}


@covers("dead_lettered")
async def test_dead_lettered_by_the_receive_after_the_last_allowed(flow: Flow) -> None:
    _, dlq = await queue_make(flow, "jobs-dlq")
    policy = json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": 1})
    url, arn = await queue_make(flow, "jobs", RedrivePolicy=policy)
    trace = await send(flow, url, "x")
    message = await receive(flow, url)
    await flow.run(
        lambda: flow.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    )
    verified = await flow.verify(
        lambda: flow.sqs.receive_message(QueueUrl=url), emits={"dead_lettered", "depth"}
    )
    moved = verified.one("dead_lettered")
    assert (moved["trace_id"], moved["queue_arn"], moved["dead_letter_arn"]) == (trace, arn, dlq)
    assert (moved["message_id"], moved["receive_count"]) == (message["MessageId"], 1)
    assert not verified.of("received")  # SQS moved it instead of returning it
    assert depth_last(verified, arn) == {"visible": 0, "in_flight": 0, "delayed": 0}
    assert depth_last(verified, dlq) == {"visible": 1, "in_flight": 0, "delayed": 0}


@covers("dead_lettered", "failed")
async def test_dead_lettered_after_a_flowdash_worker_fails_it(flow: Flow) -> None:
    """A poison message fails at its last allowed receive, lapses, and the worker's next
    receive makes SQS move it: the broker's move is the one ``dead_lettered``."""
    _, dlq = await queue_make(flow, "work-dlq")
    policy = json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": 1})
    url, arn = await queue_make(flow, "work", RedrivePolicy=policy, VisibilityTimeout="1")
    workers_start(flow, arn)
    ids: list[str] = []

    async def act() -> None:
        ids.append(await send(flow, url, "poison"))

    verified = await flow.verify(
        act, until=lambda v: bool(v.of("dead_lettered")), emits={"failed", "dead_lettered"}
    )
    failed, moved = verified.one("failed"), verified.one("dead_lettered")
    # Its lapse comes between, unless the move beat the observer's lapse timer (moto's
    # long poll looks again every second, so that is a matter of milliseconds).
    lapses = [e["seq"] for e in verified.of("visibility_lapsed")]
    assert all(failed["seq"] < seq < moved["seq"] for seq in lapses)
    assert failed["trace_id"] == moved["trace_id"] == ids[0]
    assert (moved["queue_arn"], moved["dead_letter_arn"], moved["receive_count"]) == (arn, dlq, 1)
    assert verified.fresh["depths"][dlq] == {"visible": 1, "in_flight": 0, "delayed": 0}
    assert verified.fresh["depths"][arn] == {"visible": 0, "in_flight": 0, "delayed": 0}


@covers("deduplicated")
async def test_deduplicated_by_a_fifo_queue(flow: Flow) -> None:
    url, arn = await queue_make(flow, "orders.fifo", FifoQueue="true")
    options = {"MessageGroupId": "g", "MessageDeduplicationId": "d1"}
    first = await send(flow, url, "o1", **options)
    ids: list[str] = []

    async def act() -> None:
        ids.append(await send(flow, url, "o1 again", **options))

    verified = await flow.verify(act, emits={"deduplicated"})
    assert verified.kinds() == ["deduplicated"]  # dropped: no publication, no depth change
    dup = verified.one("deduplicated")
    assert (dup["trace_id"], dup["queue_arn"], dup["message_id"]) == (first, arn, ids[0])
    assert dup["deduplication_id"] == "d1" and dup["topic_arn"] is None
    assert dup["client"].startswith("Boto3/")


@covers("expired")
async def test_expired_past_the_retention_period(flow: Flow) -> None:
    """AWS's minimum retention is 60 s; moto takes 1, which keeps this short."""
    url, arn = await queue_make(flow, "brief", MessageRetentionPeriod="1")
    ids: list[str] = []

    async def act() -> None:
        ids.append(await send(flow, url, "x"))

    verified = await flow.verify(
        act, until=lambda v: bool(v.of("expired")), emits={"published", "expired", "depth"}
    )
    expired = verified.one("expired")
    assert (expired["trace_id"], expired["queue_arn"]) == (ids[0], arn)
    assert (expired["message_id"], expired["receive_count"]) == (ids[0], 0)
    assert depth_last(verified, arn) == {"visible": 0, "in_flight": 0, "delayed": 0}


@covers("depth")
async def test_depth_follows_a_delayed_message(flow: Flow) -> None:
    """A delayed message turns visible with no request: the depth says so then."""
    url, arn = await queue_make(flow, "later")
    verified = await flow.verify(
        lambda: send(flow, url, "x", DelaySeconds=1),
        until=lambda v: any(d["visible"] == 1 for d in v.of("depth", queue_arn=arn)),
        emits={"depth"},
    )
    shown = [(d["visible"], d["in_flight"], d["delayed"]) for d in verified.of("depth")]
    assert shown == [(0, 0, 1), (1, 0, 0)]


# --- Resource changes


def resource_check(verified: Verified, kind: str, action: str, arn: str) -> None:
    """The one change was announced, and the re-read topology differs in exactly it."""
    assert resource_changes(verified) == [(kind, action, arn)]
    expected = set() if action == "purged" else {(kind, arn)}
    assert topology_differences(verified.old["topology"], verified.fresh["topology"]) == expected


@covers("resource_changed", resource_changes=(("topic", "created"),))
async def test_topic_created(flow: Flow) -> None:
    arns: list[str] = []
    verified = await flow.verify(
        lambda: arns.append(flow.sns.create_topic(Name="fresh")["TopicArn"]),
        emits={"resource_changed"},
    )
    resource_check(verified, "topic", "created", arns[0])


@covers("resource_changed", resource_changes=(("topic", "changed"),))
async def test_topic_changed(flow: Flow) -> None:
    topic = await topic_make(flow, "renamed")
    verified = await flow.verify(
        lambda: flow.sns.set_topic_attributes(
            TopicArn=topic, AttributeName="DisplayName", AttributeValue="Renamed"
        ),
        emits={"resource_changed"},
    )
    resource_check(verified, "topic", "changed", topic)


@covers("resource_changed", resource_changes=(("topic", "deleted"),))
async def test_topic_deleted(flow: Flow) -> None:
    topic = await topic_make(flow, "gone")
    verified = await flow.verify(
        lambda: flow.sns.delete_topic(TopicArn=topic), emits={"resource_changed"}
    )
    resource_check(verified, "topic", "deleted", topic)


@covers("resource_changed", resource_changes=(("topic", "deleted"), ("subscription", "deleted")))
async def test_topic_deleted_with_its_subscriptions(flow: Flow) -> None:
    topic = await topic_make(flow, "gone")
    _, arn = await queue_make(flow, "q")
    sub = await subscribe(flow, topic, arn)
    verified = await flow.verify(
        lambda: flow.sns.delete_topic(TopicArn=topic), emits={"resource_changed"}
    )
    assert resource_changes(verified) == [
        ("subscription", "deleted", sub),
        ("topic", "deleted", topic),
    ]
    assert topology_differences(verified.old["topology"], verified.fresh["topology"]) == {
        ("subscription", sub),
        ("topic", topic),
    }


@covers("resource_changed", "depth", resource_changes=(("queue", "created"),))
async def test_queue_created(flow: Flow) -> None:
    made: list[tuple[str, str]] = []

    async def act() -> None:
        made.append(await queue_make(flow, "new"))

    verified = await flow.verify(act, emits={"resource_changed", "depth"})
    _, arn = made[0]
    resource_check(verified, "queue", "created", arn)
    assert depth_last(verified, arn) == {"visible": 0, "in_flight": 0, "delayed": 0}


@covers("resource_changed", resource_changes=(("queue", "changed"),))
async def test_queue_changed(flow: Flow) -> None:
    url, arn = await queue_make(flow, "tuned")
    verified = await flow.verify(
        lambda: flow.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45"}),
        emits={"resource_changed"},
    )
    resource_check(verified, "queue", "changed", arn)
    (queue,) = verified.fresh["topology"]["queues"]
    assert queue["attributes"]["VisibilityTimeout"] == "45"


@covers("resource_changed", resource_changes=(("queue", "deleted"),))
async def test_queue_deleted(flow: Flow) -> None:
    url, arn = await queue_make(flow, "doomed")
    await send(flow, url, "x")
    verified = await flow.verify(
        lambda: flow.sqs.delete_queue(QueueUrl=url), emits={"resource_changed"}
    )
    resource_check(verified, "queue", "deleted", arn)
    assert arn in verified.old["depths"] and arn not in verified.fresh["depths"]


@covers("resource_changed", "depth", resource_changes=(("queue", "purged"),))
async def test_queue_purged(flow: Flow) -> None:
    url, arn = await queue_make(flow, "full")
    for body in ("a", "b"):
        await send(flow, url, body)
    verified = await flow.verify(
        lambda: flow.sqs.purge_queue(QueueUrl=url), emits={"resource_changed", "depth"}
    )
    resource_check(verified, "queue", "purged", arn)
    assert verified.old["depths"][arn]["visible"] == 2
    assert depth_last(verified, arn) == {"visible": 0, "in_flight": 0, "delayed": 0}


@covers("resource_changed", resource_changes=(("subscription", "created"),))
async def test_subscription_created(flow: Flow) -> None:
    topic = await topic_make(flow, "t")
    _, arn = await queue_make(flow, "q")
    subs: list[str] = []

    async def act() -> None:
        subs.append(await subscribe(flow, topic, arn))

    verified = await flow.verify(act, emits={"resource_changed"})
    resource_check(verified, "subscription", "created", subs[0])


@covers("resource_changed", resource_changes=(("subscription", "changed"),))
async def test_subscription_changed(flow: Flow) -> None:
    topic = await topic_make(flow, "t")
    _, arn = await queue_make(flow, "q")
    sub = await subscribe(flow, topic, arn)
    verified = await flow.verify(
        lambda: flow.sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true"
        ),
        emits={"resource_changed"},
    )
    resource_check(verified, "subscription", "changed", sub)
    (subscription,) = verified.fresh["topology"]["subscriptions"]
    assert subscription["raw_message_delivery"] is True


@covers("resource_changed", resource_changes=(("subscription", "deleted"),))
async def test_subscription_deleted(flow: Flow) -> None:
    topic = await topic_make(flow, "t")
    _, arn = await queue_make(flow, "q")
    sub = await subscribe(flow, topic, arn)
    verified = await flow.verify(
        lambda: flow.sns.unsubscribe(SubscriptionArn=sub), emits={"resource_changed"}
    )
    resource_check(verified, "subscription", "deleted", sub)


# --- Mobile push: applications, device endpoints, a topic's copies to devices


async def app_make(flow: Flow, name: str = "shop-app", platform: str = "GCM") -> str:
    return await flow.run(
        lambda: flow.sns.create_platform_application(
            Name=name, Platform=platform, Attributes={"PlatformCredential": "secret-key"}
        )["PlatformApplicationArn"]
    )


async def device_make(flow: Flow, app: str, token: str, *, enabled: bool = True) -> str:
    attributes = {} if enabled else {"Enabled": "false"}
    return await flow.run(
        lambda: flow.sns.create_platform_endpoint(
            PlatformApplicationArn=app, Token=token, Attributes=attributes
        )["EndpointArn"]
    )


@covers("delivered")
async def test_delivered_to_each_enabled_device_with_its_platform_payload(flow: Flow) -> None:
    topic = await topic_make(flow, "offers")
    app = await app_make(flow)
    on = [await device_make(flow, app, f"token-{i}") for i in range(2)]
    off = await device_make(flow, app, "token-off", enabled=False)
    subs = {}
    for device in [*on, off]:
        subs[device] = await flow.run(
            lambda d=device: flow.sns.subscribe(
                TopicArn=topic, Protocol="application", Endpoint=d, ReturnSubscriptionArn=True
            )["SubscriptionArn"]
        )
    gcm = json.dumps({"notification": {"title": "Sale", "body": "50% off"}})
    message = json.dumps({"default": "Sale: 50% off", "GCM": gcm, "APNS": '{"aps": {}}'})
    ids: list[str] = []
    verified = await flow.verify(
        lambda: ids.append(
            flow.sns.publish(TopicArn=topic, Message=message, MessageStructure="json")["MessageId"]
        ),
        emits={"published", "delivered"},
    )
    delivered = verified.of("delivered")
    # One per enabled device, none for the disabled one (as SNS: the publisher is not told).
    assert sorted(d["endpoint"] for d in delivered) == sorted(on)
    for d in delivered:
        assert (d["trace_id"], d["topic_arn"], d["protocol"]) == (ids[0], topic, "application")
        assert d["subscription_arn"] == subs[d["endpoint"]]
        assert d["body"] == gcm  # the device's platform payload, not the whole document
    assert not verified.of("error") and not verified.of("filtered")


@covers("resource_changed", resource_changes=(("application", "created"),))
async def test_platform_application_created(flow: Flow) -> None:
    arns: list[str] = []

    async def act() -> None:
        arns.append(await app_make(flow))

    verified = await flow.verify(act, emits={"resource_changed"})
    resource_check(verified, "application", "created", arns[0])
    (app,) = verified.fresh["topology"]["applications"]
    assert (app["platform"], app["name"]) == ("GCM", "shop-app")
    assert "secret-key" not in json.dumps(verified.fresh)  # credentials never shown


@covers("resource_changed", resource_changes=(("application", "deleted"),))
async def test_platform_application_deleted(flow: Flow) -> None:
    app = await app_make(flow)
    verified = await flow.verify(
        lambda: flow.sns.delete_platform_application(PlatformApplicationArn=app),
        emits={"resource_changed"},
    )
    resource_check(verified, "application", "deleted", app)


@covers("resource_changed", resource_changes=(("endpoint", "created"),))
async def test_device_endpoint_created(flow: Flow) -> None:
    app = await app_make(flow)
    arns: list[str] = []

    async def act() -> None:
        arns.append(await device_make(flow, app, "phone-1"))

    verified = await flow.verify(act, emits={"resource_changed"})
    resource_check(verified, "endpoint", "created", arns[0])
    (device,) = verified.fresh["topology"]["endpoints"]
    assert (device["application_arn"], device["token"], device["enabled"]) == (app, "phone-1", True)


@covers("resource_changed", resource_changes=(("endpoint", "changed"),))
async def test_device_endpoint_disabled(flow: Flow) -> None:
    app = await app_make(flow)
    device = await device_make(flow, app, "phone-1")
    verified = await flow.verify(
        lambda: flow.sns.set_endpoint_attributes(
            EndpointArn=device, Attributes={"Enabled": "false"}
        ),
        emits={"resource_changed"},
    )
    resource_check(verified, "endpoint", "changed", device)
    (shown,) = verified.fresh["topology"]["endpoints"]
    assert shown["enabled"] is False


@covers("resource_changed", resource_changes=(("endpoint", "deleted"),))
async def test_device_endpoint_deleted(flow: Flow) -> None:
    app = await app_make(flow)
    device = await device_make(flow, app, "phone-1")
    verified = await flow.verify(
        lambda: flow.sns.delete_endpoint(EndpointArn=device), emits={"resource_changed"}
    )
    resource_check(verified, "endpoint", "deleted", device)


@covers("resource_changed", resource_changes=(("workers", "changed"),))
async def test_flowdash_workers_started(flow: Flow) -> None:
    _, arn = await queue_make(flow, "staffed")

    async def act() -> None:
        flow.engine.workers_set(arn, WorkerSpec(count=2, min_ms=0, max_ms=0, wait_seconds=1))

    verified = await flow.verify(act, emits={"resource_changed"})
    assert resource_changes(verified) == [("workers", "changed", arn)]
    assert sorted(w["name"] for w in verified.fresh["workers"]) == ["staffed#1", "staffed#2"]
    assert verified.fresh["worker_specs"][arn]["count"] == 2


# --- Errors


@covers("error")
async def test_error_when_a_copy_cannot_be_delivered(flow: Flow) -> None:
    """A subscribed queue was deleted: SNS cannot hand the copy over, and says so."""
    topic = await topic_make(flow, "orphaned")
    url, arn = await queue_make(flow, "gone")
    await subscribe(flow, topic, arn)
    await flow.run(lambda: flow.sqs.delete_queue(QueueUrl=url))
    ids: list[str] = []
    verified = await flow.verify(
        lambda: ids.append(flow.sns.publish(TopicArn=topic, Message="x")["MessageId"]),
        emits={"published", "error"},
    )
    error = verified.one("error")
    assert (error["source"], error["code"]) == ("delivery", "DeliveryFailed")
    assert error["resource"] == arn
    assert ids[0] in error["message"]
    assert not verified.of("delivered")


async def test_error_when_a_workers_queue_is_deleted(flow: Flow) -> None:
    url, arn = await queue_make(flow, "short-lived")
    workers_start(flow, arn)
    verified = await flow.verify(
        lambda: flow.sqs.delete_queue(QueueUrl=url),
        until=lambda v: bool(v.of("error")),  # when its long poll (1 s) comes back
        emits={"resource_changed", "error"},
    )
    error = verified.one("error")
    assert (error["source"], error["resource"]) == ("worker", arn)
    assert "short-lived#1" in error["message"]
    assert verified.fresh["workers"] == []


async def overflow(flow: Flow, url: str, *, then: Any = None) -> None:
    """Send 30 messages (and do ``then``) while holding the engine's loop, with the
    observer's hand-off cut to 5 reports: the rest are dropped. (The capacity is the
    observer's own knob, as in tests/messaging/test_observer.py.)"""
    assert flow.engine.observer is not None
    flow.engine.observer._capacity = 5
    sent = threading.Event()

    def flood() -> None:
        for start in range(0, 30, 10):
            flow.sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)],
            )  # fmt: skip
        if then is not None:
            then()
        sent.set()

    thread = threading.Thread(target=flood)
    thread.start()
    # Holding the loop meanwhile, so nothing is drained and the buffer overflows.
    assert sent.wait(timeout=10), "the broker waited for the observer"
    thread.join()


@covers("error", "resource_changed", resource_changes=(("flow", "resync"),))
async def test_error_and_resync_when_the_observer_falls_behind(flow: Flow) -> None:
    """Dropped reports: an ``error`` says so, a ``resource_changed`` (flow, resync) makes
    viewers re-read, and depths are read again, so the state still adds up."""
    url, arn = await queue_make(flow, "flood")

    async def act() -> None:
        await overflow(flow, url)

    verified = await flow.verify(act, emits={"error", "resource_changed", "depth"})
    error = verified.one("error")
    assert (error["source"], error["code"]) == ("observer", "ObserverOverflow")
    assert resource_changes(verified) == [("flow", "resync", "")]
    assert len(verified.of("published")) == 5  # what fit; the rest was dropped
    assert depth_last(verified, arn)["visible"] == 30


async def test_a_resync_includes_a_queue_created_while_reports_were_dropped(flow: Flow) -> None:
    url, _ = await queue_make(flow, "flood")

    async def act() -> None:
        await overflow(flow, url, then=lambda: flow.sqs.create_queue(QueueName="late"))

    verified = await flow.verify(act, emits={"resource_changed"})
    assert {q["name"] for q in verified.fresh["topology"]["queues"]} == {"flood", "late"}


# --- No change, no event


async def test_reads_emit_nothing(flow: Flow) -> None:
    url, _ = await queue_make(flow, "quiet")

    def read() -> None:
        flow.sqs.list_queues()
        flow.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        assert "Messages" not in flow.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)

    await flow.verify(read, state_change_expected=False)
