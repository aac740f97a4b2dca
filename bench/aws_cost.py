"""Benchmark 4, AWS request cost: what watching and consuming would cost on real AWS.

On AWS every SQS/SNS request is billed (and throttled), so Flowdash's own
requests are the cost of using it. ``/healthz`` counts every request Flowdash's
connection made, by operation (``messaging.connection.RequestCounter``: retries
count, as AWS bills them); this benchmark reads those counts before and after.
Messages are put in place with a bare boto3 client, which ``/healthz`` does not
count, so what is left is what Flowdash itself spent: receives and deletes of
the workers and taps, depth samples, topology refreshes.

- busy: requests per consumed message while workers drain a backlog (batches of
  10 with long polling). Target ≤ 0.25.
- idle: requests per watched queue per minute with nothing happening, after the
  depth sampler has backed off. Target ≤ 4. Besides the defaults, the same
  queues with a quicker topology refresh (``FLOWDASH_REFRESH_SECONDS=15``) and
  with one idle worker per queue, so that the price of each part shows.

The idle servers run side by side (idle, they do not compete for the CPU).

    .venv/bin/python bench/aws_cost.py [--quick] [--record]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    FlowdashServer,
    Table,
    backlog,
    emit,
    flowdash_server,
    progress,
    queues_empty,
    workers_set,
)

BUSY_TARGET = 0.25
IDLE_TARGET = 4.0
IDLE_QUEUES = 10


@dataclass(frozen=True, slots=True)
class Spent:
    """Requests Flowdash made during one measurement, by operation."""

    counts: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def top(self, n: int = 4) -> str:
        return ", ".join(f"{op} {c}" for op, c in self.counts.most_common(n))


def spent_since(server: FlowdashServer, before: dict[str, int]) -> Spent:
    after = Counter(server.aws_requests())
    after.subtract(before)
    return Spent(counts=+after)


def queue_make(server: FlowdashServer, name: str) -> dict[str, str]:
    with server.api() as api:
        response = api.post("/api/queues", json={"name": name})
        response.raise_for_status()
        queue: dict[str, str] = response.json()
        return queue


def fill(server: FlowdashServer, url: str, count: int) -> None:
    sqs = server.boto("sqs")
    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "MessageBody": f"work item {start + n}"}
                for n in range(min(10, count - start))
            ],
        )


@dataclass(frozen=True, slots=True)
class Busy:
    label: str
    consumed: int
    seconds: float
    spent: Spent


def busy_queue(
    server: FlowdashServer, *, name: str, label: str, messages: int, **spec: Any
) -> Busy:
    """Workers drain a backlog that was there before they started."""
    queue = queue_make(server, name)
    fill(server, queue["url"], messages)
    time.sleep(2)  # the depth sampler sees the backlog once, before the count starts
    before = server.aws_requests()
    started = time.monotonic()
    workers_set(server, queue["arn"], **spec)
    while backlog(server.boto("sqs"), queue["url"]) > 0:
        time.sleep(0.5)
    seconds = time.monotonic() - started
    spent = spent_since(server, before)
    workers_set(server, queue["arn"], **{**spec, "count": 0})
    # Gone before the next scenario, so its count holds no samples of this idle queue
    # (what idle queues cost is what the idle rows measure).
    with server.api() as api:
        api.delete(f"/api/queues/{queue['arn']}").raise_for_status()
    return Busy(label=label, consumed=messages, seconds=seconds, spent=spent)


def busy_topic(server: FlowdashServer, *, label: str, messages: int, fanout: int) -> Busy:
    """Publications fan out to queues with workers; the topic's tap sees each one."""
    with server.api() as api:
        topic = api.post("/api/topics", json={"name": "busy-topic"}).json()["arn"]
        queues = []
        for n in range(fanout):
            queue = queue_make(server, f"busy-topic-{n}")
            api.post(
                "/api/subscriptions",
                json={"topic_arn": topic, "protocol": "sqs", "endpoint": queue["arn"]},
            ).raise_for_status()
            queues.append(queue)
    time.sleep(3)  # the engine taps the new topic
    for queue in queues:
        workers_set(server, queue["arn"], count=2, min_ms=10, max_ms=10)
    time.sleep(2)
    before = server.aws_requests()
    started = time.monotonic()
    sns = server.boto("sns")
    for start in range(0, messages, 10):
        sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[
                {"Id": str(n), "Message": f"order {start + n}"} for n in range(10)
            ],
        )
    while not queues_empty(server, queues):
        time.sleep(0.5)
    seconds = time.monotonic() - started
    return Busy(
        label=label, consumed=messages * fanout, seconds=seconds, spent=spent_since(server, before)
    )


@dataclass(frozen=True, slots=True)
class Idle:
    label: str
    queues: int
    minutes: float
    spent: Spent

    @property
    def per_queue_minute(self) -> float:
        return self.spent.total / self.queues / self.minutes


def idle(label: str, settle_s: float, window_s: float, workers: bool, **settings: str) -> Idle:
    with flowdash_server(**settings) as server:
        queues = [queue_make(server, f"idle-{n}") for n in range(IDLE_QUEUES)]
        if workers:
            for queue in queues:
                workers_set(server, queue["arn"], count=1)
        time.sleep(settle_s)
        before = server.aws_requests()
        time.sleep(window_s)
        return Idle(
            label=label,
            queues=IDLE_QUEUES,
            minutes=window_s / 60,
            spent=spent_since(server, before),
        )


def run(*, quick: bool) -> list[Table]:
    settle_s, window_s = (35.0, 60.0) if quick else (65.0, 120.0)
    idles: list[Idle] = []
    errors: list[BaseException] = []

    def idle_in_thread(*args: Any, **kwargs: Any) -> None:
        try:
            idles.append(idle(*args, **kwargs))
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    variants = [
        ("defaults", {}, False),
        (
            "FLOWDASH_REFRESH_SECONDS=15 (a quicker refresh)",
            {"FLOWDASH_REFRESH_SECONDS": "15"},
            False,
        ),
        ("defaults, 1 idle worker per queue", {}, True),
    ]
    progress(f"aws_cost: {len(variants)} idle servers, {settle_s + window_s:.0f} s")
    threads = [
        threading.Thread(
            target=idle_in_thread, args=(label, settle_s, window_s, workers), kwargs=settings
        )
        for label, settings, workers in variants
    ]
    for thread in threads:
        thread.start()
    busy: list[Busy] = []
    with flowdash_server() as server:
        progress("aws_cost: busy workers")
        n = 500 if quick else 2_000
        busy.append(
            busy_queue(server, name="busy-a", label=f"queue, {n:,} messages, 2 workers x 20 ms",
                       messages=n, count=2, min_ms=20, max_ms=20)
        )  # fmt: skip
        busy.append(
            busy_queue(server, name="busy-b", label=f"queue, {n:,} messages, 5 workers x 0 ms",
                       messages=n, count=5, min_ms=0, max_ms=0)
        )  # fmt: skip
        if not quick:
            busy.append(
                busy_queue(server, name="busy-c",
                           label="queue, 100 messages, 1 worker x 500 ms (the default)",
                           messages=100, count=1, min_ms=500, max_ms=500)
            )  # fmt: skip
        m = 200 if quick else 1_000
        busy.append(
            busy_topic(server, label=f"topic to 2 queues, {m:,} publishes, 2 workers x 10 ms each",
                       messages=m, fanout=2)
        )  # fmt: skip
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [table(busy, sorted(idles, key=lambda i: [v[0] for v in variants].index(i.label)),
                  window_s=window_s, settle_s=settle_s)]  # fmt: skip


def table(busy: list[Busy], idles: list[Idle], *, window_s: float, settle_s: float) -> Table:
    out = Table(
        title="4. AWS request cost (Flowdash's own requests, from /healthz)",
        columns=["scenario", "work", "requests", "cost", "by operation (top 4)", "target", "met?"],
    )
    for b in busy:
        per = b.spent.total / b.consumed
        verdict = out.target(f"busy: {b.label}: {per:.2f} requests/message", per <= BUSY_TARGET)
        out.row(
            f"busy: {b.label}",
            f"{b.consumed:,} consumed in {b.seconds:.0f} s",
            f"{b.spent.total:,}",
            f"**{per:.3f}** per message",
            b.spent.top(),
            "≤ 0.25",
            verdict,
        )
    for i in idles:
        per = i.per_queue_minute
        verdict = out.target(f"idle: {i.label}: {per:.1f} per queue-minute", per <= IDLE_TARGET)
        out.row(
            f"idle: {i.label}",
            f"{i.queues} queues, {i.minutes:.1f} min",
            f"{i.spent.total:,}",
            f"**{per:.2f}** per queue per minute",
            i.spent.top(),
            "≤ 4",
            verdict,
        )
    out.notes = [
        "Busy: the backlog is in place (sent by a bare boto3 client, not counted) before the "
        "workers start; counting stops when the queues are empty. Every request Flowdash made "
        "meanwhile counts: receives, deletes, depth samples, topology refreshes, taps. Each "
        "busy queue is deleted after its row, so later rows do not pay for sampling it.",
        f"Idle: counted over {window_s:.0f} s after {settle_s:.0f} s of settling (the depth "
        "sampler backs off from 0.5 s to 30 s in ~32 s). Refresh cost is per refresh: one "
        "ListQueues and one ListTopics, plus one GetQueueAttributes(All) per queue every "
        "other periodic refresh (it also serves as that queue's depth sample).",
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows (~1.7 min)")
    parser.add_argument("--record", action="store_true", help="append to bench/results/flow.md")
    args = parser.parse_args()
    emit(run(quick=args.quick), record=args.record, header="aws_cost.py")


if __name__ == "__main__":
    main()
