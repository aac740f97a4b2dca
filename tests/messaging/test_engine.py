"""The flow engine end to end against a real moto server: fanout, workers, DLQ.

Each test runs on both observation paths against the same moto: the embedded
observer (the broker reports) and the outside one (taps and samples, as on AWS).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import boto3
import pytest

from messaging import publishing, resources, subscriptions
from messaging.connection import Connection
from messaging.engine import FlowEngine
from messaging.events import FlowEmitter, FlowEvent
from messaging.validation import MessageAttribute
from messaging.workers import WorkerSpec

FAST = {"refresh_seconds": 1.0, "depth_fast": 0.2, "depth_slow": 1.0, "tap_wait_seconds": 1}


class Recorder:
    def __init__(self, emitter: FlowEmitter) -> None:
        self.events: list[FlowEvent] = []
        emitter.subscribe(self.events.append)

    def of(self, kind: str, trace: str | None = None) -> list[FlowEvent]:
        return [
            e for e in self.events
            if getattr(e, "type", None) == kind and (trace is None or e.trace == trace)
        ]  # fmt: skip

    async def wait_for(self, predicate, within: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            if loop.time() > deadline:
                kinds = [(e.seq, getattr(e, "type", "?")) for e in self.events]
                raise AssertionError(f"timed out; events so far: {kinds}")
            await asyncio.sleep(0.05)


@pytest.fixture(params=["inside", "outside"])
async def engine(conn: Connection, request: pytest.FixtureRequest):
    emitter = FlowEmitter()
    observed = Connection(
        replace(conn.config, observer=request.param), endpoint_url=conn.endpoint_url
    )
    engine = FlowEngine(observed, emitter, watcher_options=FAST)
    assert engine.observation == request.param
    recorder = Recorder(emitter)
    yield engine, recorder
    await engine.stop()


async def test_fanout_filtering_and_consumption(conn: Connection, engine) -> None:
    engine, rec = engine
    topic = resources.topic_create(conn, name="orders")
    queues = {n: resources.queue_create(conn, name=n) for n in ("billing", "shipping", "eu-only")}
    for name, queue in queues.items():
        policy = json.dumps({"region": ["eu"]}) if name == "eu-only" else None
        subscriptions.subscription_create(
            conn, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn, filter_policy=policy
        )
    await engine.start()
    engine.workers_set(queues["billing"].arn, WorkerSpec(count=1, min_ms=10, max_ms=10))
    result = publishing.topic_publish(
        conn, topic_arn=topic.arn, body="order 1",
        attributes=[MessageAttribute(name="region", type="String", value="us")],
    )  # fmt: skip
    trace = result.message_id
    await rec.wait_for(lambda: rec.of("processed", trace))
    (published,) = rec.of("published", trace)
    assert published.topic_arn == topic.arn and published.body == "order 1"
    delivered = sorted(e.endpoint for e in rec.of("delivered", trace))
    assert delivered == sorted([queues["billing"].arn, queues["shipping"].arn])
    (filtered,) = rec.of("filtered", trace)
    assert filtered.endpoint == queues["eu-only"].arn
    assert filtered.reason == "region: 'us' is not 'eu'"
    (received,) = rec.of("received", trace)
    assert received.queue_arn == queues["billing"].arn and received.receive_count == 1
    journey = [e for e in rec.events if e.trace == trace]
    seqs = [e.seq for e in journey]
    assert seqs == sorted(seqs) and journey[0].type == "published"
    assert [e.seq for e in rec.events] == list(range(1, len(rec.events) + 1))
    # Nothing in the tap queue or the unconsumed queues was stolen.
    await rec.wait_for(
        lambda: (
            engine.watcher.depths[queues["shipping"].arn].visible == 1
            and engine.watcher.depths[queues["billing"].arn].visible == 0
        )
    )


async def test_external_publish_is_seen(conn: Connection, engine) -> None:
    engine, rec = engine
    topic = resources.topic_create(conn, name="alerts")
    await engine.start()
    # Outside, a tap queue subscribes to the topic; inside, Flowdash leaves no trace.
    footprint = 1 if engine.observation == "outside" else 0
    await rec.wait_for(lambda: len(conn.sns.list_subscriptions()["Subscriptions"]) == footprint)
    sns = boto3.client(
        "sns", endpoint_url=conn.endpoint_url, region_name="us-east-1",
        aws_access_key_id="someone", aws_secret_access_key="else",
    )  # fmt: skip
    message_id = sns.publish(TopicArn=topic.arn, Message="from boto3")["MessageId"]
    await rec.wait_for(lambda: rec.of("published", message_id))
    (published,) = rec.of("published", message_id)
    assert published.source == "external" and published.body == "from boto3"
    if engine.observation == "inside":
        assert published.client is not None and published.client.startswith("Boto3/")


async def test_poison_message_is_dead_lettered(conn: Connection, engine) -> None:
    engine, rec = engine
    queue = resources.queue_create(
        conn, name="work", visibility_timeout=1, new_dead_letter_queue="work-dlq",
        max_receive_count=2,
    )  # fmt: skip
    await engine.start()
    engine.workers_set(queue.arn, WorkerSpec(count=1, min_ms=0, max_ms=0, wait_seconds=1))
    sent = publishing.queue_send(conn, queue_url=queue.url, body="poison pill")
    trace = sent.message_id
    await rec.wait_for(lambda: rec.of("dead_lettered", trace), within=30)
    failures = rec.of("failed", trace)
    assert [f.receive_count for f in failures] == [1, 2]
    assert "poison" in failures[0].reason
    (dead,) = rec.of("dead_lettered", trace)
    assert dead.dead_letter_arn == queue.dead_letter_arn and dead.receive_count == 2
    assert rec.of("published", trace)[0].queue_arn == queue.arn
    dlq_url = resources.queue_url(conn, arn=queue.dead_letter_arn or "")
    assert resources.queue_get(conn, url=dlq_url).depth.visible == 1


async def test_raw_delivery_is_correlated_by_body(conn: Connection, engine) -> None:
    engine, rec = engine
    topic = resources.topic_create(conn, name="raw")
    queue = resources.queue_create(conn, name="raw-q")
    subscriptions.subscription_create(
        conn, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn, raw_message_delivery=True
    )
    await engine.start()
    engine.workers_set(queue.arn, WorkerSpec(count=1, min_ms=0, max_ms=0, wait_seconds=1))
    ids = [
        publishing.topic_publish(conn, topic_arn=topic.arn, body="same body").message_id
        for _ in range(2)
    ]
    await rec.wait_for(lambda: all(rec.of("processed", t) for t in ids))
    assert {e.trace for e in rec.of("received")} == set(ids)


async def test_worker_stops_cleanly_when_its_queue_is_deleted(conn: Connection, engine) -> None:
    engine, rec = engine
    queue = resources.queue_create(conn, name="doomed")
    await engine.start()
    engine.workers_set(queue.arn, WorkerSpec(count=2, min_ms=0, max_ms=0, wait_seconds=1))
    await rec.wait_for(lambda: len(engine.workers.names(queue.arn)) == 2)
    resources.queue_delete(conn, url=queue.url)
    await rec.wait_for(lambda: len(rec.of("error")) >= 2 and not engine.workers.names(queue.arn))
    messages = {e.message for e in rec.of("error")}
    assert all("stopped" in m for m in messages), messages
    assert engine.workers.stats == {}


async def test_fifo_workers_keep_each_groups_order(conn: Connection, engine) -> None:
    engine, rec = engine
    queue = resources.queue_create(
        conn, name="jobs.fifo", fifo=True, content_based_deduplication=True, visibility_timeout=1
    )
    await engine.start()
    sent = {}
    for n in range(3):
        for group in ("a", "b"):
            body = f"{group}{n}" + (" poison" if (group, n) == ("b", 0) else "")
            sent[publishing.queue_send(
                conn, queue_url=queue.url, body=body, message_group_id=group
            ).message_id] = (group, n)  # fmt: skip
    engine.workers_set(queue.arn, WorkerSpec(count=2, min_ms=5, max_ms=5, wait_seconds=1))
    await rec.wait_for(lambda: len(rec.of("processed")) >= 3)
    await asyncio.sleep(1.5)
    processed = [sent[e.message_id] for e in rec.of("processed")]
    group_a = [n for g, n in processed if g == "a"]
    assert group_a == [0, 1, 2]  # in order, though two workers compete
    # b0 always fails, so b1 and b2 never overtake it: group b is held back.
    assert not [n for g, n in processed if g == "b"]
    held = [e for e in rec.of("failed") if sent[e.message_id] != ("b", 0)]
    assert all("FIFO keeps the group's order" in e.reason for e in held)


async def test_a_stopped_workers_abandoned_poll_hands_its_message_back(
    conn: Connection, engine
) -> None:
    """boto3 cannot interrupt a long poll: a worker stopped mid-poll still takes the next
    message in its thread. It must come back at once, not after the visibility timeout."""
    engine, rec = engine
    queue = resources.queue_create(conn, name="abandoned", visibility_timeout=60)
    await engine.start()
    engine.workers_set(queue.arn, WorkerSpec(count=1, min_ms=0, max_ms=0, wait_seconds=20))
    await rec.wait_for(lambda: len(engine.workers.names(queue.arn)) == 1)
    await asyncio.sleep(0.5)  # the worker's long poll is under way
    engine.workers_set(queue.arn, WorkerSpec(count=0))
    await rec.wait_for(lambda: not engine.workers.names(queue.arn))
    publishing.queue_send(conn, queue_url=queue.url, body="after the stop")
    await asyncio.sleep(1.5)  # the abandoned poll takes it

    sqs = boto3.client(
        "sqs", endpoint_url=conn.endpoint_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip
    got = await asyncio.to_thread(
        sqs.receive_message, QueueUrl=queue.url, WaitTimeSeconds=5,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )  # fmt: skip
    messages = got.get("Messages", [])
    assert [m["Body"] for m in messages] == ["after the stop"]
    # Received twice: once by the abandoned poll, which handed it back, then here.
    assert messages[0]["Attributes"]["ApproximateReceiveCount"] == "2"
