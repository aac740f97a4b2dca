"""The backend contract: the same scenarios, the same flow and the same queue contents on
every backend (``backend``: embedded moto watched from inside and from outside, and a
real LocalStack through the ``endpoint`` backend).

Each scenario is driven as a user drives Flowdash, through its JSON API (the
instructor's browser session) with a ``/ws/flow/`` viewer open from the start, plus
plain boto3 where a user's own program would act. It asserts:

- the journeys on the flow socket (``journeys.py``): which events each message's trace
  has, on which resources, with which receive counts, in the order that is guaranteed;
- what is left in the queues, read through the queue inspector, which must not
  receive (receive counts are checked afterwards with a real ReceiveMessage);
- no ``error`` event about the scenario's resources.

The expected values are written out once per scenario, not per backend: a backend
that differs fails.
"""

from __future__ import annotations

import time
from typing import Any

from tests.clients.conftest import FlowWatch

from .conftest import Api, Backend
from .journeys import journeys_settled, order_of, trace_bodies

#: Simulated workers that take no time and fail what says "poison".
FAST_WORKER = {"count": 1, "min_ms": 0, "max_ms": 0, "poison_marker": "poison"}


def topic_create(api: Api, made: list[str], name: str, **options: Any) -> str:
    arn: str = api.post("/topics", {"name": name, **options}, expect=201)["arn"]
    made.append(arn)
    return arn


def queue_create(api: Api, made: list[str], name: str, **options: Any) -> dict[str, Any]:
    queue: dict[str, Any] = api.post("/queues", {"name": name, **options}, expect=201)
    made.append(queue["arn"])
    if queue.get("dead_letter_arn") and options.get("new_dead_letter_queue"):
        made.append(queue["dead_letter_arn"])
    return queue


def subscribe(api: Api, topic: str, queue: str, **options: Any) -> str:
    body = {"topic_arn": topic, "protocol": "sqs", "endpoint": queue, **options}
    arn: str = api.post("/subscriptions", body, expect=201)["arn"]
    return arn


def inspect(api: Api, queue: str, **params: Any) -> dict[str, Any]:
    view: dict[str, Any] = api.get(f"/queues/{queue}/inspect", params=params)
    return view


def contents(api: Api, queue: str) -> list[tuple[str, str, int]]:
    """(message, state, receive count) of every message in the queue, sorted; for a
    topic's copy the message is the envelope's, so raw and enveloped copies compare."""
    view = inspect(api, queue, limit=500)
    assert view["total"] == len(view["messages"]), view
    return sorted(
        (
            m["envelope"]["message"] if m["envelope"] else m["body"],
            m["state"],
            m["receive_count"],
        )
        for m in view["messages"]
    )


def contents_settled(
    api: Api, queue: str, expected: list[tuple[str, str, int]], timeout: float = 15
) -> None:
    """The queue holds ``expected`` (LocalStack fans out after Publish returns: wait)."""
    deadline = time.monotonic() + timeout
    while (found := contents(api, queue)) != sorted(expected) and time.monotonic() < deadline:
        time.sleep(0.2)  # polling an HTTP API; no socket event says "the queue holds it"
    assert found == sorted(expected), f"{queue}: {found}"


def no_errors(watch: FlowWatch, arns: list[str]) -> None:
    errors = [e for e in watch.of("error") if e.get("resource") in (*arns, None)]
    assert errors == [], errors


def attribute(name: str, value: str) -> dict[str, str]:
    return {"name": name, "type": "String", "value": value}


def test_fanout_with_a_filter_policy(
    backend: Backend, api: Api, watch: FlowWatch, made: list[str]
) -> None:
    """One topic, two queues: ``red`` takes only red messages (a filter policy), ``all``
    everything with raw delivery. Each publication is delivered or filtered per
    subscription, and the queues hold exactly the copies AWS would deliver."""
    topic = topic_create(api, made, backend.name("fanout"))
    red = queue_create(api, made, backend.name("fanout-red"))["arn"]
    every = queue_create(api, made, backend.name("fanout-all"))["arn"]
    subscribe(api, topic, red, filter_policy={"color": ["red"]})
    subscribe(api, topic, every, raw_message_delivery=True)
    watch.in_topology(every)
    for body, color in (("red-1", "red"), ("blue-1", "blue"), ("red-2", "red")):
        api.post(
            f"/topics/{topic}/publish", {"body": body, "attributes": [attribute("color", color)]}
        )
    # A message with no attributes at all: a policy on an attribute keeps it out.
    api.post(f"/topics/{topic}/publish", {"body": "plain-1"})

    labels = {topic: "topic", red: "queue:red", every: "queue:all"}
    delivered_to_both = [["published topic"], ["delivered queue:all", "delivered queue:red"]]
    filtered_from_red = [["published topic"], ["delivered queue:all", "filtered queue:red"]]
    journeys_settled(
        watch,
        labels,
        {
            "red-1": delivered_to_both,
            "red-2": delivered_to_both,
            "blue-1": filtered_from_red,
            "plain-1": filtered_from_red,
        },
    )
    contents_settled(api, red, [("red-1", "visible", 0), ("red-2", "visible", 0)])
    contents_settled(
        api,
        every,
        [(b, "visible", 0) for b in ("red-1", "blue-1", "red-2", "plain-1")],
    )
    no_errors(watch, [topic, red, every])


def test_work_queue_with_failures_and_a_dead_letter_queue(
    backend: Backend, api: Api, watch: FlowWatch, made: list[str]
) -> None:
    """A worker processes a queue whose poison message fails: it is received again
    after its visibility lapses, and after maxReceiveCount (2) SQS moves it to the
    dead-letter queue; the good ones are processed and deleted once."""
    queue = queue_create(
        api, made, backend.name("work"), visibility_timeout=1,
        new_dead_letter_queue=backend.name("work-dlq"), max_receive_count=2,
    )  # fmt: skip
    work, dlq = queue["arn"], queue["dead_letter_arn"]
    assert dlq and queue["max_receive_count"] == 2, queue
    watch.in_topology(dlq)
    entries = [{"id": f"m{n}", "body": body} for n, body in enumerate(("ok-1", "poison-1", "ok-2"))]
    sent = api.post(f"/queues/{work}/messages/batch", {"entries": entries})
    assert sent["failed"] == [], sent
    api.put(f"/queues/{work}/workers", FAST_WORKER)

    labels = {work: "queue:work", dlq: "queue:dlq"}
    processed = [["published queue:work"], ["received queue:work #1"], ["processed queue:work"]]
    journeys_settled(
        watch,
        labels,
        {
            "ok-1": processed,
            "ok-2": processed,
            "poison-1": [
                ["published queue:work"],
                ["received queue:work #1"],
                ["failed queue:work #1"],
                ["received queue:work #2"],
                ["failed queue:work #2"],
                ["dead_lettered queue:work->queue:dlq #2"],
            ],
        },
    )
    api.put(f"/queues/{work}/workers", {"count": 0})
    contents_settled(api, work, [])
    # SQS keeps a message's receive count when it moves it to the dead-letter queue.
    contents_settled(api, dlq, [("poison-1", "visible", 2)])
    no_errors(watch, [work, dlq])


def test_fifo_message_groups(backend: Backend, api: Api, watch: FlowWatch, made: list[str]) -> None:
    """A FIFO topic fans out to a FIFO queue; a worker receives each message group in
    the order it was published, whatever the interleaving of groups."""
    topic = topic_create(api, made, backend.name("orders.fifo"), fifo=True,
                         content_based_deduplication=True)  # fmt: skip
    queue = queue_create(api, made, backend.name("orders.fifo"), fifo=True)["arn"]
    subscribe(api, topic, queue)
    watch.in_topology(queue)
    published = [("a-1", "a"), ("b-1", "b"), ("a-2", "a"), ("a-3", "a"), ("b-2", "b")]
    # Before any worker runs, so the queue holds both groups interleaved.
    for body, group in published:
        api.post(f"/topics/{topic}/publish", {"body": body, "message_group_id": group})
    contents_settled(api, queue, [(body, "visible", 0) for body, _ in published])
    lanes = inspect(api, queue)["lanes"]
    assert {g: len(ids) for g, ids in lanes.items()} == {"a": 3, "b": 2}, lanes
    api.put(f"/queues/{queue}/workers", FAST_WORKER)

    labels = {topic: "topic", queue: "queue:orders"}
    journey = [
        ["published topic"],
        ["delivered queue:orders"],
        ["received queue:orders #1"],
        ["processed queue:orders"],
    ]
    journeys_settled(watch, labels, {body: journey for body, _ in published})
    received = order_of(watch, "received", queue, trace_bodies(watch))
    for group in ("a", "b"):
        in_group = [body for body in received if body.startswith(f"{group}-")]
        assert in_group == [b for b, g in published if g == group], received
    groups = {e["group_id"] for e in watch.of("received", queue_arn=queue)}
    assert groups == {"a", "b"}, groups
    contents_settled(api, queue, [])
    no_errors(watch, [topic, queue])


def test_redrive_from_the_dead_letter_queue(
    backend: Backend, api: Api, watch: FlowWatch, made: list[str]
) -> None:
    """Messages a worker failed reach the dead-letter queue (maxReceiveCount 1); once the
    worker is fixed (it no longer fails them), the redrive moves each back to its source
    exactly once, and the worker processes it there as a first receive.

    The worker keeps running through the redrive, as a user fixing a consumer would
    leave it. Stopping it first would not do: a stopped worker's last long poll (up to
    20 s, in a thread that cancelling the task does not stop) still takes a message,
    unseen by the flow, and with maxReceiveCount 1 that receive sends it straight back
    to the dead-letter queue. A redriven message is a new message (a new MessageId),
    so it has a journey of its own on every backend."""
    queue = queue_create(
        api, made, backend.name("billing"), visibility_timeout=1,
        new_dead_letter_queue=backend.name("billing-dlq"), max_receive_count=1,
    )  # fmt: skip
    source, dlq = queue["arn"], queue["dead_letter_arn"]
    watch.in_topology(dlq)
    bodies = ["invoice-1", "invoice-2", "invoice-3"]
    entries = [{"id": f"m{n}", "body": body} for n, body in enumerate(bodies)]
    api.post(f"/queues/{source}/messages/batch", {"entries": entries})
    api.put(f"/queues/{source}/workers", {**FAST_WORKER, "poison_marker": "invoice"})
    watch.wait(
        lambda: len(watch.of("dead_lettered", queue_arn=source)) == len(bodies),
        "every invoice in the dead-letter queue",
    )
    contents_settled(api, dlq, [(body, "visible", 1) for body in bodies])
    assert [q["arn"] for q in api.get(f"/queues/{dlq}/dead-letter-sources")] == [source]

    api.put(f"/queues/{source}/workers", {**FAST_WORKER, "poison_marker": ""})
    moved = api.post(f"/queues/{dlq}/redrive", {"source_arn": source})
    assert (moved["moved"], moved["resent_skipped"], moved["remaining"]) == (3, 0, 0), moved
    contents_settled(api, dlq, [])
    again = api.post(f"/queues/{dlq}/redrive", {"source_arn": source})
    assert again["moved"] == 0, again

    labels = {source: "queue:billing", dlq: "queue:dlq"}
    journeys_settled(
        watch,
        labels,
        {
            **{
                body: [
                    ["published queue:billing"],
                    ["received queue:billing #1"],
                    ["failed queue:billing #1"],
                    ["dead_lettered queue:billing->queue:dlq #1"],
                ]
                for body in bodies
            },
            # Sent back as a new message (a new MessageId), so a journey of its own.
            **{
                f"{body} (2)": [
                    ["published queue:billing"],
                    ["received queue:billing #1"],
                    ["processed queue:billing"],
                ]
                for body in bodies
            },
        },
    )
    contents_settled(api, source, [])
    no_errors(watch, [source, dlq])


def test_inspection_without_receiving(
    backend: Backend, api: Api, watch: FlowWatch, made: list[str]
) -> None:
    """The queue inspector shows every message, visible, in flight and delayed, with its
    attributes and FIFO group, and receiving none of them: a real receive afterwards
    finds each receive count as the owner's own program left it."""
    queue = queue_create(api, made, backend.name("inbox"))
    fifo = queue_create(api, made, backend.name("inbox.fifo"), fifo=True,
                        content_based_deduplication=True)  # fmt: skip
    watch.in_topology(fifo["arn"])
    _, sqs = backend.boto3()
    # The owner's own program: one message taken (in flight for a minute), one delayed.
    sqs.send_message(QueueUrl=queue["url"], MessageBody="taken-1")
    taken = sqs.receive_message(QueueUrl=queue["url"], VisibilityTimeout=60, WaitTimeSeconds=5)
    assert [m["Body"] for m in taken["Messages"]] == ["taken-1"], taken
    sqs.send_message(
        QueueUrl=queue["url"], MessageBody="waiting-1",
        MessageAttributes={"color": {"DataType": "String", "StringValue": "red"}},
    )  # fmt: skip
    sqs.send_message(QueueUrl=queue["url"], MessageBody="waiting-2")
    sqs.send_message(QueueUrl=queue["url"], MessageBody="later-1", DelaySeconds=60)
    for body, group in (("g-1", "left"), ("g-2", "right"), ("g-3", "left")):
        sqs.send_message(QueueUrl=fifo["url"], MessageBody=body, MessageGroupId=group)

    expected = [
        ("later-1", "delayed", 0),
        ("taken-1", "in_flight", 1),
        ("waiting-1", "visible", 0),
        ("waiting-2", "visible", 0),
    ]
    for _ in range(3):  # looking, as often as anyone likes, changes nothing
        assert contents(api, queue["arn"]) == expected
    view = inspect(api, queue["arn"])
    assert view["counts"] == {"visible": 2, "in_flight": 1, "delayed": 1}, view["counts"]
    by_body = {m["body"]: m for m in view["messages"]}
    assert by_body["waiting-1"]["attributes"] == {"color": {"Type": "String", "Value": "red"}}
    assert all(m["sent_timestamp"] for m in view["messages"]), view["messages"]
    found = inspect(api, queue["arn"], q="RED")
    assert [m["body"] for m in found["messages"]] == ["waiting-1"], found
    page = inspect(api, queue["arn"], offset=1, limit=2)
    assert (page["total"], len(page["messages"])) == (4, 2), page

    fifo_view = inspect(api, fifo["arn"])
    groups = {m["body"]: m["group_id"] for m in fifo_view["messages"]}
    assert groups == {"g-1": "left", "g-2": "right", "g-3": "left"}, fifo_view
    # Content-based deduplication: the id is the body's SHA-256, on every backend.
    assert all(len(m["deduplication_id"] or "") == 64 for m in fifo_view["messages"]), fifo_view
    assert sorted(fifo_view["lanes"]) == ["left", "right"], fifo_view

    # The proof: the first real receive of the visible messages is their first receive.
    got = sqs.receive_message(
        QueueUrl=queue["url"], MaxNumberOfMessages=10, WaitTimeSeconds=1,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )["Messages"]  # fmt: skip
    counts = {m["Body"]: m["Attributes"]["ApproximateReceiveCount"] for m in got}
    assert counts == {"waiting-1": "1", "waiting-2": "1"}, counts
    first = sqs.receive_message(
        QueueUrl=fifo["url"], MaxNumberOfMessages=10, WaitTimeSeconds=1,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )["Messages"]  # fmt: skip
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in first} == {"1"}, first
    after = contents(api, queue["arn"])
    assert [(b, s) for b, s, _ in after] == [
        ("later-1", "delayed"),
        ("taken-1", "in_flight"),
        ("waiting-1", "in_flight"),
        ("waiting-2", "in_flight"),
    ], after
    no_errors(watch, [queue["arn"], fifo["arn"]])
