"""Depth sampling against a real moto server: what the workers tell the watcher
stands in for GetQueueAttributes, and the bars still end on SQS's own figures.

These tests count requests (the connection's request counter), not time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import boto3
import pytest

from messaging import resources
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.engine import FlowEngine
from messaging.events import FlowEmitter, FlowEvent
from messaging.resources import Depth
from messaging.workers import WorkerSpec

#: No periodic refresh inside a test (it reads attributes too); a sampler that would
#: back off to 5 s when nothing happens, and takes a real reading at least every 8 s.
OPTIONS = {
    "refresh_seconds": 600.0, "depth_fast": 0.2, "depth_slow": 5.0, "depth_stand_in": 8.0,
    "tap_wait_seconds": 1,
}  # fmt: skip


def samples(conn: Connection) -> int:
    return conn.requests.snapshot().get("sqs.GetQueueAttributes", 0)


def samples_by_queue(conn: Connection) -> Counter[str]:
    """GetQueueAttributes requests from now on, by queue URL."""
    seen: Counter[str] = Counter()

    def note(params: dict[str, Any], **_: Any) -> None:
        seen[params["QueueUrl"]] += 1

    conn.sqs.meta.events.register("provide-client-params.sqs.GetQueueAttributes", note)
    return seen


async def until(predicate, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.05)


@pytest.fixture
def conn(moto_url: str) -> Connection:
    """The outside path (as on AWS): the embedded observer needs no samples at all."""
    return Connection(BackendConfig(observer="outside"), endpoint_url=moto_url)


@pytest.fixture
async def engine(conn: Connection):
    emitter = FlowEmitter()
    events: list[FlowEvent] = []
    emitter.subscribe(events.append)
    engine = FlowEngine(conn, emitter, watcher_options=OPTIONS)
    yield engine, events
    await engine.stop()


async def test_an_idle_workers_empty_polls_stand_in_for_samples(conn: Connection, engine) -> None:
    engine, _ = engine
    watched = resources.queue_create(conn, name="watched")
    worked = resources.queue_create(conn, name="worked")
    await engine.start()
    engine.workers_set(worked.arn, WorkerSpec(count=1, wait_seconds=1))
    await asyncio.sleep(2)  # both samplers back off from 0.2 s
    sampled = samples_by_queue(conn)
    await asyncio.sleep(4.5)
    # The unworked queue is sampled in 4.5 s (every 5 s at most when nothing moves);
    # the worked one is not: every second an empty long poll shows it is empty.
    assert sampled[watched.url] >= 1
    assert sampled[worked.url] == 0, sampled
    assert engine.watcher.depths[worked.arn] == Depth()


async def test_bars_follow_a_workers_batches_without_samples(conn: Connection, engine) -> None:
    engine, events = engine
    queue = resources.queue_create(conn, name="backlog")
    for start in range(0, 30, 10):
        conn.sqs.send_message_batch(
            QueueUrl=queue.url,
            Entries=[{"Id": str(n), "MessageBody": f"job {start + n}"} for n in range(10)],
        )
    await engine.start()
    assert engine.watcher.depths[queue.arn] == Depth(visible=30)  # read by the refresh
    await asyncio.sleep(1.5)  # the sampler has confirmed it and backs off
    before = samples(conn)
    engine.workers_set(queue.arn, WorkerSpec(count=1, min_ms=40, max_ms=40, wait_seconds=20))
    processed = lambda: sum(1 for e in events if getattr(e, "type", "") == "processed")  # noqa: E731
    await until(lambda: processed() == 30)
    during = samples(conn) - before
    shown = [
        (e.visible, e.in_flight) for e in events if getattr(e, "type", "") == "depth"
    ]  # fmt: skip
    # Each receive and delete moved the bar, straight from the worker's own news (a
    # batch's delete overlaps the next receive, so their order may vary).
    assert (20, 10) in shown and (0, 0) in shown, shown
    assert {visible for visible, _ in shown} >= {20, 10, 0}, shown
    assert len(shown) >= 1 + 6, shown  # the refresh's reading, 3 receives, 3 deletes
    assert during <= 1, f"{during} samples while one worker drained 30 messages"
    # Once the worker goes quiet, one sample confirms what the bars show.
    await until(lambda: samples(conn) > before + during)
    assert engine.watcher.depths[queue.arn] == Depth()


async def test_a_change_nobody_announced_still_shows(conn: Connection, engine) -> None:
    engine, _ = engine
    queue = resources.queue_create(conn, name="busy")
    await engine.start()
    engine.workers_set(queue.arn, WorkerSpec(count=1, min_ms=0, max_ms=0, wait_seconds=1))
    await asyncio.sleep(2)
    before = samples(conn)
    # A delayed message from another producer: the idle worker's empty polls cannot
    # see it, and nothing announces it; a real reading still comes within 8 s.
    conn.sqs.send_message(QueueUrl=queue.url, MessageBody="later", DelaySeconds=60)
    await until(lambda: engine.watcher.depths[queue.arn].delayed == 1, within=15)
    assert samples(conn) - before <= 2


async def test_listings_read_no_attributes_and_samples_notice_a_changed_queue(
    conn: Connection,
) -> None:
    """Known queues cost the listings nothing; a setting changed by another program
    shows through the depth samples' LastModifiedTimestamp, not through re-reads."""
    queue = resources.queue_create(conn, name="listed")
    reads: Counter[str] = Counter()

    def note(params: dict[str, Any], **_: Any) -> None:
        reads["all" if params.get("AttributeNames") == ["All"] else "depth"] += 1

    conn.sqs.meta.events.register("provide-client-params.sqs.GetQueueAttributes", note)
    emitter = FlowEmitter()
    events: list[FlowEvent] = []
    emitter.subscribe(events.append)
    options = {**OPTIONS, "refresh_seconds": 0.5, "depth_slow": 1.0, "depth_stand_in": 2.0}
    engine = FlowEngine(conn, emitter, watcher_options=options)
    try:
        await engine.start()
        assert reads["all"] == 1, reads  # the new queue's one read
        listings = conn.requests.snapshot().get("sqs.ListQueues", 0)
        await until(lambda: conn.requests.snapshot().get("sqs.ListQueues", 0) >= listings + 6)
        assert reads["all"] == 1, reads
        other = boto3.client(
            "sqs", endpoint_url=conn.endpoint_url, region_name="us-east-1",
            aws_access_key_id="someone", aws_secret_access_key="else",
        )  # fmt: skip
        await asyncio.sleep(1.1)  # LastModifiedTimestamp counts whole seconds
        other.set_queue_attributes(QueueUrl=queue.url, Attributes={"VisibilityTimeout": "7"})
        await until(
            lambda: (
                engine.watcher.index.queues[queue.arn].attributes.get("VisibilityTimeout") == "7"
            ),
            within=5,
        )
        changed = [
            e for e in events
            if getattr(e, "type", "") == "resource_changed" and e.kind == "queue"
        ]  # fmt: skip
        assert [(e.action, e.arn) for e in changed] == [("changed", queue.arn)]
        assert reads["all"] == 2, reads
    finally:
        await engine.stop()
