"""A plain boto3 application against the embedded backend: one topic fanned out to
three queues, 30 publications in the first second after the last subscription, and
a consumer thread that receives and deletes everything.

Plain boto3 (not Flowdash's ``Connection``, whose user agent says ``flowdash``)
identifies as ``Boto3/<version>``. Through ``/ws/flow/`` the test checks that
each resource appeared within a second of its call returning, and, by the
frames' counts (complete even when a frame's events are a sample), that all 30
publications, 90 deliveries, 90 receives and 90 deletes were seen, once each,
with boto3 as the client; and that each queue's last depth is 0.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from typing import Any

from tests.live import LiveServer

from .conftest import FlowWatch, boto3_clients, queue_arn

PUBLICATIONS = 30
QUEUES = 3
APPEAR_WITHIN = 1.0


class Consumer(threading.Thread):
    """Receives from each queue in turn (one receiver per queue at a time) and deletes
    what it got, until it has deleted ``expected`` messages or ``within`` runs out."""

    def __init__(self, sqs: Any, urls: list[str], expected: int, within: float = 60) -> None:
        super().__init__(name="boto3-consumer", daemon=True)
        self.sqs, self.urls, self.expected, self.within = sqs, urls, expected, within
        self.deleted: Counter[str] = Counter()
        self.receives = 0
        self.failure: BaseException | None = None
        self.go = threading.Event()

    def run(self) -> None:
        try:
            self.go.wait(self.within)
            deadline = time.monotonic() + self.within
            while sum(self.deleted.values()) < self.expected and time.monotonic() < deadline:
                for url in self.urls:
                    messages = self.sqs.receive_message(
                        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                        VisibilityTimeout=60,
                    ).get("Messages", [])  # fmt: skip
                    self.receives += 1
                    for message in messages:
                        self.sqs.delete_message(
                            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
                        )
                        self.deleted[url] += 1
                if sum(self.deleted.values()) < self.expected:
                    time.sleep(0.02)
        except BaseException as exc:  # reported by the test
            self.failure = exc


def test_boto3_fanout_is_counted_whole(served: LiveServer, watch: FlowWatch) -> None:
    sns, sqs = boto3_clients(served)
    tag = secrets.token_hex(3)
    made: list[tuple[str, str, float]] = []

    topic = sns.create_topic(Name=f"fanout-{tag}")["TopicArn"]
    made.append(("topic", topic, time.monotonic()))
    urls, arns = [], []
    for n in range(QUEUES):
        urls.append(sqs.create_queue(QueueName=f"fanout-{tag}-{n}")["QueueUrl"])
        arns.append(queue_arn(f"fanout-{tag}-{n}"))
        made.append(("queue", arns[-1], time.monotonic()))
    subscriptions = []
    for arn in arns:
        subscriptions.append(
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True)[
                "SubscriptionArn"
            ]
        )
        made.append(("subscription", subscriptions[-1], time.monotonic()))
    subscribed, subscribed_wall = made[-1][2], time.time()

    consumer = Consumer(sqs, urls, expected=PUBLICATIONS * QUEUES)
    consumer.start()
    consumer.go.set()  # consuming while publishing, as an application would
    traces = [
        sns.publish(TopicArn=topic, Message=f"order {n}")["MessageId"] for n in range(PUBLICATIONS)
    ]
    published_in = time.monotonic() - subscribed
    consumer.join(timeout=90)
    assert consumer.failure is None, repr(consumer.failure)
    assert not consumer.is_alive() and sum(consumer.deleted.values()) == PUBLICATIONS * QUEUES, (
        f"the consumer deleted {dict(consumer.deleted)}"
    )

    lateness = []
    for kind, arn, returned in made:
        late = watch.arrival("resource_changed", kind=kind, action="created", arn=arn) - returned
        assert late <= APPEAR_WITHIN, f"{kind} {arn} announced {late:.2f} s after it was made"
        # ... and in the snapshot the page fetches on that announcement.
        shown = watch.in_topology(arn) - returned
        assert shown <= APPEAR_WITHIN, f"{kind} {arn} in the topology {shown:.2f} s after"
        lateness.append(shown)
        assert len(watch.of("resource_changed", kind=kind, action="created", arn=arn)) == 1
    # The picture holds exactly what was made: no tap queue or subscription of its own.
    topology = watch.resync()["topology"]
    assert sorted(i["arn"] for items in topology.values() for i in items) == sorted(
        arn for _, arn, _ in made
    )

    # Counts are complete whatever was sampled: every publication, copy, receive and delete.
    every = PUBLICATIONS
    watch.wait(lambda: watch.count("published", topic) >= every, f"{every} publications")
    for arn in arns:
        for kind in ("delivered", "received", "processed"):
            watch.wait(lambda k=kind, a=arn: watch.count(k, a) >= every, f"{every} {kind} on {arn}")

        # The last depth (a sampled frame keeps the newest per queue) says the queue is empty.
        def emptied(a: str = arn) -> bool:
            depths = watch.of("depth", queue_arn=a)
            return bool(depths) and (depths[-1]["visible"], depths[-1]["in_flight"]) == (0, 0)

        watch.wait(emptied, f"{arn}'s depth to reach 0")
    time.sleep(0.3)  # a few more frames: anything counted twice would show now
    assert watch.count("published", topic) == every
    for arn in arns:
        for kind in ("delivered", "received", "processed"):
            assert watch.count(kind, arn) == every, (kind, arn, watch.summary())
        assert watch.of("depth", queue_arn=arn)[-1]["delayed"] == 0

    # Who: boto3 published, received and deleted (every event the frames carried).
    published = watch.of("published", topic_arn=topic)
    assert published, watch.summary()
    assert {e["client"].split("/")[0] for e in published} == {"Boto3"}, published[:3]
    assert {e["source"] for e in published} == {"external"}
    assert {e["trace_id"] for e in published} <= set(traces)
    for kind in ("received", "processed"):
        events = [e for arn in arns for e in watch.of(kind, queue_arn=arn)]
        assert events, kind
        assert all(e["worker"].startswith("Boto3/") for e in events), events[:3]
        assert {e["trace_id"] for e in events} <= set(traces)
    if watch.sampled_frames == 0:  # every event is there: check them one by one too
        assert sorted(e["trace_id"] for e in published) == sorted(traces)
        for arn, sub in zip(arns, subscriptions, strict=True):
            copies = watch.of("delivered", endpoint=arn)
            assert sorted(e["trace_id"] for e in copies) == sorted(traces)
            assert {e["subscription_arn"] for e in copies} == {sub}
            for kind in ("received", "processed"):
                assert sorted(e["trace_id"] for e in watch.of(kind, queue_arn=arn)) == sorted(
                    traces
                ), (kind, arn)

    # Publications were made in the first second after subscribing (broker's clock).
    made_at = sorted(e["ts"] - subscribed_wall for e in published)
    assert made_at[0] < 1.0, made_at

    assert watch.troubles() == []

    # Exactly what the application made.
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sorted(s["SubscriptionArn"] for s in listed) == sorted(subscriptions)
    assert len(sns.list_subscriptions()["Subscriptions"]) == QUEUES
    assert sorted(sqs.list_queues()["QueueUrls"]) == sorted(urls)
    print(
        f"\nboto3: {PUBLICATIONS} publications in {published_in:.2f} s after subscribing "
        f"(made {made_at[0]:.2f}..{made_at[-1]:.2f} s); {consumer.receives} receives; resources in "
        f"a snapshot {min(lateness):+.2f}..{max(lateness):+.2f} s after their call returned; "
        f"identity {published[0]['client']}; {watch.summary()}"
    )
