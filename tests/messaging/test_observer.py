"""The embedded observer against a real moto server: other programs' traffic, as it happens.

Clients here are plain boto3 clients (not Flowdash's ``Connection``, which identifies
itself as Flowdash), talking to the embedded server over HTTP as any program would.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import replace

import boto3
import pytest

from messaging.connection import Connection
from messaging.engine import FlowEngine
from messaging.events import FlowEmitter, FlowEvent
from messaging.workers import WorkerSpec
from tests.messaging.test_embedded_filtering import CASES as FILTER_CASES
from tests.messaging.test_embedded_filtering import _drain as drain
from tests.messaging.test_embedded_filtering import _subscribe as subscribe


class Recorder:
    def __init__(self, emitter: FlowEmitter) -> None:
        self.events: list[FlowEvent] = []
        self.arrived: list[float] = []
        emitter.subscribe(self._add)

    def _add(self, event: FlowEvent) -> None:
        self.events.append(event)
        self.arrived.append(time.time())

    def of(self, type_: str, /, **fields: object) -> list[FlowEvent]:
        return [
            e for e in self.events
            if e.type == type_ and all(getattr(e, k, None) == v for k, v in fields.items())
        ]  # fmt: skip

    async def wait_for(self, predicate, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                kinds = [getattr(e, "type", "?") for e in self.events[-30:]]
                raise AssertionError(f"timed out; last events: {kinds}")
            await asyncio.sleep(0.02)


@pytest.fixture
async def observed(conn: Connection):
    emitter = FlowEmitter()
    recorder = Recorder(emitter)
    inside = Connection(replace(conn.config, observer="inside"), endpoint_url=conn.endpoint_url)
    engine = FlowEngine(inside, emitter)
    assert engine.observation == "inside"
    await engine.start()
    yield engine, recorder
    await engine.stop()


@pytest.fixture
def clients(conn: Connection):
    kw = {
        "endpoint_url": conn.endpoint_url, "region_name": "us-east-1",
        "aws_access_key_id": "someone", "aws_secret_access_key": "else",
    }  # fmt: skip
    return boto3.client("sns", **kw), boto3.client("sqs", **kw)


def queue_arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


async def test_another_programs_fanout_is_seen_whole_and_at_once(observed, clients) -> None:
    engine, rec = observed
    sns, sqs = clients
    in_snapshot: list[bool] = []

    def check(event: FlowEvent) -> None:
        # A viewer resyncs on resource_changed: the snapshot must have the change by then.
        if event.type == "resource_changed" and event.action == "created":  # type: ignore[attr-defined]
            topology = engine.snapshot()["topology"]
            arns = {
                r["arn"] for kind in ("topics", "queues", "subscriptions") for r in topology[kind]
            }
            in_snapshot.append(event.arn in arns)  # type: ignore[attr-defined]

    engine.emitter.subscribe(check)

    def build_and_publish() -> tuple[str, list[str], list[str], float]:
        topic = sns.create_topic(Name="fanout")["TopicArn"]
        created_at = time.time()
        urls = [sqs.create_queue(QueueName=f"fan-{i}")["QueueUrl"] for i in range(3)]
        arns = [queue_arn(sqs, u) for u in urls]
        for arn in arns:
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        ids = [sns.publish(TopicArn=topic, Message=f"m{i}")["MessageId"] for i in range(30)]
        return topic, arns, ids, created_at

    topic, arns, ids, created_at = await asyncio.to_thread(build_and_publish)
    await rec.wait_for(lambda: len(rec.of("delivered")) == 90)
    (created,) = rec.of("resource_changed", kind="topic", arn=topic)
    assert rec.arrived[rec.events.index(created)] - created_at < 1.0
    await rec.wait_for(lambda: len(in_snapshot) == 7)  # a topic, 3 queues, 3 subscriptions
    assert all(in_snapshot)
    assert {e.trace_id for e in rec.of("published")} == set(ids)  # type: ignore[attr-defined]
    assert all(e.client.startswith("Boto3/") for e in rec.of("published"))  # type: ignore[attr-defined]
    assert all(e.source == "external" for e in rec.of("published"))  # type: ignore[attr-defined]
    for arn in arns:
        assert len(rec.of("delivered", endpoint=arn)) == 30
    # The topology follows, and Flowdash left nothing in the user's lists.
    await rec.wait_for(lambda: set(arns) <= set(engine.correlator.index.queues))
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 3
    assert sorted(sqs.list_queues()["QueueUrls"]) == sorted(
        sqs.get_queue_url(QueueName=f"fan-{i}")["QueueUrl"] for i in range(3)
    )
    await rec.wait_for(lambda: all(engine.watcher.depths[a].visible == 30 for a in arns))


async def test_an_outside_consumer_shows_its_receives_and_deletes(observed, clients) -> None:
    engine, rec = observed
    _, sqs = clients
    url = await asyncio.to_thread(lambda: sqs.create_queue(QueueName="jobs")["QueueUrl"])
    arn = await asyncio.to_thread(queue_arn, sqs, url)
    sent = await asyncio.to_thread(lambda: sqs.send_message(QueueUrl=url, MessageBody="job"))
    trace = sent["MessageId"]

    def consume() -> None:
        [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"]
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=60
        )
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    await asyncio.to_thread(consume)
    await rec.wait_for(lambda: rec.of("processed", trace_id=trace))
    (published,) = rec.of("published", trace_id=trace)
    assert published.queue_arn == arn  # type: ignore[attr-defined]
    (received,) = rec.of("received", trace_id=trace)
    assert received.worker.startswith("Boto3/") and received.worker.endswith(" on jobs")  # type: ignore[attr-defined]
    (changed,) = rec.of("visibility_changed", trace_id=trace)
    assert changed.timeout_seconds == 60  # type: ignore[attr-defined]
    assert changed.worker == received.worker  # type: ignore[attr-defined]
    (processed,) = rec.of("processed", trace_id=trace)
    assert processed.worker == received.worker  # type: ignore[attr-defined]
    # The consumer is listed with the workers, so a snapshot draws it.
    consumer = engine.snapshot()["workers"]
    assert [(w["name"], w["processed"]) for w in consumer] == [(received.worker, 1)]  # type: ignore[attr-defined]
    await rec.wait_for(lambda: engine.watcher.depths[arn].in_flight == 0)


async def test_a_lapse_is_reported_when_it_happens(observed, clients) -> None:
    _, rec = observed
    _, sqs = clients
    url = await asyncio.to_thread(lambda: sqs.create_queue(QueueName="slow")["QueueUrl"])
    trace = (await asyncio.to_thread(lambda: sqs.send_message(QueueUrl=url, MessageBody="x")))[
        "MessageId"
    ]
    await asyncio.to_thread(lambda: sqs.receive_message(QueueUrl=url, VisibilityTimeout=1))
    received_at = time.time()
    await rec.wait_for(lambda: rec.of("visibility_lapsed", trace_id=trace), within=5)
    (lapsed,) = rec.of("visibility_lapsed", trace_id=trace)
    # Nobody asked the queue anything: the timer said so, about a second later.
    assert 0.9 <= rec.arrived[rec.events.index(lapsed)] - received_at < 1.5
    assert lapsed.receive_count == 1  # type: ignore[attr-defined]


async def test_a_fifo_duplicate_is_shown_not_swallowed(observed, clients) -> None:
    _, rec = observed
    _, sqs = clients
    url = await asyncio.to_thread(
        lambda: sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})[
            "QueueUrl"
        ]
    )

    def send() -> str:
        return sqs.send_message(
            QueueUrl=url, MessageBody="o1", MessageGroupId="g", MessageDeduplicationId="d1"
        )["MessageId"]

    first = await asyncio.to_thread(send)
    await asyncio.to_thread(send)
    await rec.wait_for(lambda: rec.of("deduplicated"))
    (dup,) = rec.of("deduplicated")
    assert dup.trace_id == first and dup.deduplication_id == "d1"  # type: ignore[attr-defined]
    assert len(rec.of("published")) == 1


async def test_purge_and_delete_are_reported(observed, clients) -> None:
    engine, rec = observed
    _, sqs = clients
    url = await asyncio.to_thread(lambda: sqs.create_queue(QueueName="tmp")["QueueUrl"])
    arn = await asyncio.to_thread(queue_arn, sqs, url)
    await asyncio.to_thread(lambda: sqs.send_message(QueueUrl=url, MessageBody="x"))
    await rec.wait_for(
        lambda: engine.watcher.depths.get(arn) and engine.watcher.depths[arn].visible
    )
    await asyncio.to_thread(lambda: sqs.purge_queue(QueueUrl=url))
    await rec.wait_for(lambda: rec.of("resource_changed", action="purged", arn=arn))
    await rec.wait_for(lambda: engine.watcher.depths[arn].visible == 0)
    await asyncio.to_thread(lambda: sqs.delete_queue(QueueUrl=url))
    await rec.wait_for(lambda: rec.of("resource_changed", action="deleted", arn=arn))
    await rec.wait_for(lambda: arn not in engine.correlator.index.queues)


async def test_dead_lettering_under_load_is_counted_exactly(conn: Connection, observed) -> None:
    """Six workers on each of three queues, a poison marker, fanout 3: every move to a
    DLQ is one ``dead_lettered`` event, and every failure's lapse is reported."""
    engine, rec = observed
    sns = conn.sns
    topic = sns.create_topic(Name="work")["TopicArn"]
    arns, dlqs = [], []
    for i in range(3):
        dlq = conn.sqs.create_queue(QueueName=f"work-{i}-dlq")["QueueUrl"]
        dlq_arn = queue_arn(conn.sqs, dlq)
        url = conn.sqs.create_queue(
            QueueName=f"work-{i}",
            Attributes={
                "VisibilityTimeout": "1",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
            },
        )["QueueUrl"]
        arn = queue_arn(conn.sqs, url)
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        arns.append(arn)
        dlqs.append(dlq)
    await rec.wait_for(lambda: set(arns) <= set(engine.correlator.index.queues))
    for arn in arns:
        engine.workers_set(arn, WorkerSpec(count=6, min_ms=0, max_ms=5, wait_seconds=1))
    poison = 12
    for i in range(60):
        body = f"poison {i}" if i % 5 == 0 else f"fine {i}"
        sns.publish(TopicArn=topic, Message=body)
    expected = poison * 3
    await rec.wait_for(lambda: len(rec.of("dead_lettered")) >= expected, within=40)
    await asyncio.sleep(1.5)  # anything extra would show by now
    in_dlqs = sum(
        int(
            conn.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
        for url in dlqs
    )
    assert len(rec.of("dead_lettered")) == in_dlqs == expected
    # Each failed receive was followed by its lapse, at the receive count that failed.
    failed = {(e.queue_arn, e.message_id, e.receive_count) for e in rec.of("failed")}  # type: ignore[attr-defined]
    lapsed = {(e.queue_arn, e.message_id, e.receive_count) for e in rec.of("visibility_lapsed")}  # type: ignore[attr-defined]
    assert failed and failed <= lapsed


async def test_an_overflowing_hand_off_never_blocks_the_broker(conn: Connection, clients) -> None:
    """When reports pile up faster than the loop takes them, the broker goes on; the
    drops are counted and viewers are told to resync."""
    emitter = FlowEmitter()
    rec = Recorder(emitter)
    small = Connection(replace(conn.config, observer="inside"), endpoint_url=conn.endpoint_url)
    engine = FlowEngine(small, emitter)
    await engine.start()
    try:
        assert engine.observer is not None
        engine.observer._capacity = 5
        _, sqs = clients
        url = sqs.create_queue(QueueName="flood")["QueueUrl"]
        sent = threading.Event()

        def flood() -> None:
            for start in range(0, 50, 10):
                sqs.send_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)
                    ],
                )
            sent.set()

        thread = threading.Thread(target=flood)
        thread.start()
        # This blocks the loop, so nothing is drained meanwhile: the sends must finish anyway.
        assert sent.wait(timeout=10), "the broker waited for the observer"
        thread.join()
        await rec.wait_for(lambda: rec.of("error", code="ObserverOverflow"))
        await rec.wait_for(lambda: rec.of("resource_changed", kind="flow", action="resync"))
        (resync,) = rec.of("resource_changed", kind="flow", action="resync")
        assert engine.observer.dropped_total > 0
        assert resync.seq > rec.of("error", code="ObserverOverflow")[0].seq
    finally:
        await engine.stop()


async def test_a_message_past_its_retention_period_expires(observed, clients) -> None:
    """SQS deletes what stays longer than the retention period; moto never did. (AWS's
    minimum is 60 s; moto takes 2, which keeps this test short.)"""
    engine, rec = observed
    _, sqs = clients
    url = await asyncio.to_thread(
        lambda: sqs.create_queue(QueueName="brief", Attributes={"MessageRetentionPeriod": "2"})[
            "QueueUrl"
        ]
    )
    arn = await asyncio.to_thread(queue_arn, sqs, url)
    trace = (await asyncio.to_thread(lambda: sqs.send_message(QueueUrl=url, MessageBody="x")))[
        "MessageId"
    ]
    await rec.wait_for(lambda: rec.of("expired", trace_id=trace), within=6)
    (expired,) = rec.of("expired", trace_id=trace)
    assert expired.queue_arn == arn and expired.receive_count == 0  # type: ignore[attr-defined]
    left = await asyncio.to_thread(lambda: sqs.receive_message(QueueUrl=url).get("Messages", []))
    assert left == []
    await rec.wait_for(lambda: engine.watcher.depths[arn].visible == 0)


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda case: case.id)
async def test_the_trace_says_what_the_broker_decided(observed, clients, case) -> None:
    """Filter policies AWS documents and moto 5.2.5 got wrong: what arrives in the
    queue, what Flowdash's evaluator says and what the live trace says agree."""
    _, rec = observed
    sns, sqs = clients

    def publish_all() -> tuple[list[str], list[str]]:
        topic = sns.create_topic(Name="decisions")["TopicArn"]
        url = sqs.create_queue(QueueName=case.id)["QueueUrl"]
        subscribe(sns, topic, queue_arn(sqs, url), case.policy, case.scope)
        ids = []
        for message in case.messages:
            request = {"TopicArn": topic, "Message": message.text}
            if message.attributes:
                request["MessageAttributes"] = message.attributes
            ids.append(sns.publish(**request)["MessageId"])
        return ids, drain(sqs, url)

    ids, arrived = await asyncio.to_thread(publish_all)

    def decided(trace: str) -> bool:
        return bool(rec.of("delivered", trace_id=trace) or rec.of("filtered", trace_id=trace))

    await rec.wait_for(lambda: all(decided(trace) for trace in ids))
    for trace, message in zip(ids, case.messages, strict=True):
        traced = bool(rec.of("delivered", trace_id=trace))
        assert traced == message.delivered == (message.text in arrived), message
        if not traced:
            (filtered,) = rec.of("filtered", trace_id=trace)
            assert filtered.reason  # type: ignore[attr-defined]
