"""Bursts: N templated messages, paced, batched above 20/s, to a topic or a queue."""

from __future__ import annotations

import pytest

from messaging import resources, subscriptions
from messaging.aio import AwsRunner
from messaging.burst import Burst, burst_run
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.errors import InvalidInput
from messaging.inspection import queue_inspect


@pytest.fixture
def embedded(moto_url: str) -> Connection:
    return Connection(BackendConfig(backend="embedded"), endpoint_url=moto_url)


def bodies(conn: Connection, queue: resources.Queue) -> list[str]:
    return [m.body for m in queue_inspect(conn, queue=queue).messages]


async def test_fast_burst_to_a_queue_goes_in_batches(embedded: Connection) -> None:
    queue = resources.queue_create(embedded, name="spike")
    burst = Burst(count=25, rate=500, body_template="order {{n}}", queue_url=queue.url)
    sent = await burst_run(embedded, AwsRunner(), burst)
    assert sent == 25
    assert sorted(bodies(embedded, queue)) == sorted(f"order {n}" for n in range(1, 26))
    assert embedded.requests.snapshot()["sqs.SendMessageBatch"] == 3


async def test_slow_burst_to_a_fifo_topic(embedded: Connection) -> None:
    topic = resources.topic_create(embedded, name="events.fifo", fifo=True)
    queue = resources.queue_create(embedded, name="events.fifo", fifo=True)
    subscriptions.subscription_create(
        embedded, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn, raw_message_delivery=True
    )
    burst = Burst(count=4, rate=20, topic_arn=topic.arn, message_group_id="g")
    await burst_run(embedded, AwsRunner(), burst)
    assert bodies(embedded, queue) == [f"message {n}" for n in range(1, 5)]  # in order


@pytest.mark.parametrize(
    ("burst", "field"),
    [
        (Burst(count=0, rate=1, queue_url="q"), "count"),
        (Burst(count=10_001, rate=1, queue_url="q"), "count"),
        (Burst(count=1, rate=5000, queue_url="q"), "rate"),
        (Burst(count=1, rate=1), "target"),
        (Burst(count=1, rate=1, queue_url="https://x/1/q.fifo"), "message_group_id"),
        (Burst(count=1, rate=1, queue_url="q", body_template=""), "body"),
    ],
)
def test_burst_input_rules(burst: Burst, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        burst.validate()
    assert info.value.field == field
