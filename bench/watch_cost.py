"""Benchmark: the outside path's AWS request cost and discovery time, new cadence vs previous.

Flowdash watches an ``endpoint`` backend from outside (listings, taps, depth samples),
as it watches LocalStack and AWS. The backend is a real LocalStack (host mode, from
``.venv-localstack``) when that exists, else a moto server in this process; the table
says which. Two Flowdash processes watch it side by side, each under a resource prefix
of its own (so each sees only its own resources and taps):

- new: the shipped settings (listings every 4.5 s, attributes only for what is new);
- previous: the same code at the previous cadence, ``FLOWDASH_REFRESH_SECONDS=60``
  (the same-run baseline: what finding changes once a minute costs).

Measured for each, from ``/healthz``'s request counter (Flowdash's own requests only;
the resources and publications come from a bare boto3 client, not counted):

- idle: requests per watched queue per idle minute, for 10 queues and no topic, and for
  one topic fanning out to 3 queues (the issue's example). Target ≤ 4 (issue #16);
- busy: requests per publication while 300 publications fan out to 3 queues;
- discovery: seconds from a bare boto3 CreateTopic/CreateQueue to its
  ``resource_changed`` on ``/ws/flow/``, and from DeleteTopic to its tap queue gone.
  Target < 5 s.

    .venv/bin/python bench/watch_cost.py [--quick] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    FlowdashServer,
    Table,
    aws_client,
    emit,
    flowdash_server,
    machine,
    poll,
    progress,
    ws_connect,
)

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "bench" / "results" / "watch.md"
IDLE_TARGET = 4.0
DISCOVERY_TARGET = 5.0
VARIANTS = {
    "new (listings every 4.5 s)": {},
    "previous (FLOWDASH_REFRESH_SECONDS=60)": {"FLOWDASH_REFRESH_SECONDS": "60"},
}
SHAPES = {"10 queues, no topic": (0, 10), "1 topic -> 3 queues": (1, 3)}


@dataclass(frozen=True)
class Backend:
    name: str
    url: str


@contextmanager
def backend() -> Iterator[Backend]:
    """LocalStack when its virtualenv exists, else a moto server in this process."""
    if (ROOT / ".venv-localstack" / "bin" / "python").exists():
        from tests.backends.localstack import localstack_running

        with localstack_running(Path(tempfile.mkdtemp(prefix="bench-localstack-"))) as ls:
            yield Backend("LocalStack (localstack-core, host mode)", ls.url)
        return
    from messaging.embedded import EmbeddedServer

    server = EmbeddedServer(port=0)
    url = server.start()
    try:
        yield Backend("moto server (no .venv-localstack here)", url)
    finally:
        server.stop()


class Account:
    """A bare boto3 client making resources under one Flowdash's prefix."""

    def __init__(self, endpoint: str, prefix: str) -> None:
        self.sns = aws_client("sns", endpoint)
        self.sqs = aws_client("sqs", endpoint)
        self.prefix = prefix

    def shape(self, stem: str, topics: int, queues: int) -> list[str]:
        """Topics each fanning out to every queue; returns the topic ARNs."""
        arns = []
        for n in range(queues):
            url = self.sqs.create_queue(QueueName=f"{self.prefix}{stem}-q{n}")["QueueUrl"]
            arns.append(
                self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                    "Attributes"
                ]["QueueArn"]
            )
        made = []
        for t in range(topics):
            topic = self.sns.create_topic(Name=f"{self.prefix}{stem}-t{t}")["TopicArn"]
            for arn in arns:
                self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
            made.append(topic)
        return made

    def taps(self) -> list[str]:
        urls: list[str] = self.sqs.list_queues(QueueNamePrefix=self.prefix + "fdtap-").get(
            "QueueUrls", []
        )
        return urls


def spent(server: FlowdashServer, before: dict[str, int]) -> Counter[str]:
    after = Counter(server.aws_requests())
    after.subtract(before)
    return +after


@dataclass
class Result:
    variant: str
    idle: dict[str, tuple[float, Counter[str]]]  # shape -> (per queue-minute, counts)
    busy: tuple[float, int, Counter[str]] | None = None  # per publication, publications
    discovery: list[float] | None = None
    tap_gone: list[float] | None = None


def measure(
    variant: str, settings: dict[str, str], url: str, *, settle: float, window: float,
    publications: int,
) -> Result:  # fmt: skip
    prefix = f"b{secrets.token_hex(2)}-"
    account = Account(url, prefix)
    env = {
        "FLOWDASH_BACKEND": "endpoint",
        "FLOWDASH_AWS_ENDPOINT_URL": url,
        "FLOWDASH_RESOURCE_PREFIX": prefix,
        **settings,
    }
    result = Result(variant=variant, idle={})
    with flowdash_server(**env) as server:
        for shape, (topics, queues) in SHAPES.items():
            stem = "idle" if topics == 0 else "fan"
            account.shape(stem, topics, queues)
            time.sleep(settle)  # found, tapped, and the depth samplers backed off
            before = server.aws_requests()
            time.sleep(window)
            counts = spent(server, before)
            # Every queue so far is watched: the earlier shape's idle queues too.
            watched = sum(q for t, q in list(SHAPES.values())[: list(SHAPES).index(shape) + 1])
            result.idle[shape] = (sum(counts.values()) / watched / (window / 60), counts)
        topic = account.sns.list_topics()["Topics"]
        fan = next(t["TopicArn"] for t in topic if f":{prefix}fan-t0" in t["TopicArn"])
        before = server.aws_requests()
        for start in range(0, publications, 10):
            account.sns.publish_batch(
                TopicArn=fan,
                PublishBatchRequestEntries=[
                    {"Id": str(n), "Message": f"order {start + n}"} for n in range(10)
                ],
            )
        time.sleep(5)  # the tap drains, the depth samples settle
        counts = spent(server, before)
        result.busy = (sum(counts.values()) / publications, publications, counts)
        if not settings:
            result.discovery, result.tap_gone = asyncio.run(discovery(server, account))
    return result


async def discovery(server: FlowdashServer, account: Account) -> tuple[list[float], list[float]]:
    """Seconds from a bare CreateTopic/CreateQueue to ``resource_changed`` on the socket,
    and from DeleteTopic to its tap queue gone from ListQueues."""
    found: list[float] = []
    gone: list[float] = []
    ws = await ws_connect(server)
    try:
        for trial in range(3):
            taps = len(account.taps())
            made = time.monotonic()
            topic = account.sns.create_topic(Name=f"{account.prefix}disc-{trial}")["TopicArn"]
            url = account.sqs.create_queue(QueueName=f"{account.prefix}disc-q{trial}")["QueueUrl"]
            arn = account.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            wanted = {topic, arn}
            async with asyncio.timeout(30):
                while wanted:
                    message = json.loads(await ws.recv())
                    for event in message.get("events", []):
                        if event["type"] == "resource_changed" and event["action"] == "created":
                            wanted.discard(event["arn"])
            found.append(time.monotonic() - made)
            async with asyncio.timeout(30):  # the new topic's tap is made just after
                await poll(lambda n=taps: len(account.taps()) > n, every=0.05)
            deleted = time.monotonic()
            account.sns.delete_topic(TopicArn=topic)
            async with asyncio.timeout(30):
                await poll(lambda n=taps: len(account.taps()) == n, every=0.05)
            gone.append(time.monotonic() - deleted)
    finally:
        await ws.close()
    return found, gone


def table(backend: Backend, results: list[Result], *, window: float) -> Table:
    out = Table(
        title=f"Watching from outside: AWS request cost and discovery ({backend.name})",
        columns=["cadence", "scenario", "requests", "cost", "by operation (top 4)", "target",
                 "met?"],
    )  # fmt: skip
    for r in results:
        for shape, (per, counts) in r.idle.items():
            top = ", ".join(f"{op} {c}" for op, c in counts.most_common(4))
            verdict = out.target(f"{r.variant}, idle {shape}: {per:.1f}", per <= IDLE_TARGET)
            out.row(r.variant, f"idle: {shape}", sum(counts.values()),
                    f"**{per:.2f}** per watched queue per minute", top, "≤ 4", verdict)  # fmt: skip
        if r.busy is not None:
            per, n, counts = r.busy
            top = ", ".join(f"{op} {c}" for op, c in counts.most_common(4))
            out.row(r.variant, f"busy: {n} publications, fanout 3", sum(counts.values()),
                    f"**{per:.3f}** per publication", top, "-", "-")  # fmt: skip
        if r.discovery:
            worst = max(r.discovery)
            verdict = out.target(f"{r.variant}: found within {worst:.2f} s",
                                 worst < DISCOVERY_TARGET)  # fmt: skip
            out.row(r.variant, "discovery: CreateTopic + CreateQueue to the socket",
                    len(r.discovery), _seconds(r.discovery), "-", "< 5 s", verdict)  # fmt: skip
        if r.tap_gone:
            worst = max(r.tap_gone)
            verdict = out.target(f"{r.variant}: tap gone within {worst:.2f} s",
                                 worst < DISCOVERY_TARGET)  # fmt: skip
            out.row(r.variant, "tap removal: DeleteTopic to tap queue gone",
                    len(r.tap_gone), _seconds(r.tap_gone), "-", "< 5 s", verdict)  # fmt: skip
    out.notes = [
        f"Backend: {backend.name}. Both cadences ran side by side on it, each with its own "
        "resource prefix; requests are Flowdash's own (from /healthz), resources and "
        "publications come from a bare boto3 client.",
        f"Idle: counted over {window:.0f} s once the depth samplers had backed off. Per "
        "watched queue: all requests divided by the queues watched (the listings are shared "
        "by every resource, so small accounts pay more per queue). The second shape is "
        "counted with the first one's 10 idle queues still watched (13 queues, 1 topic).",
        "Previous cadence: the same code listing every 60 s; it finds a change made by "
        "another program up to a minute late (not measured: the point of #16).",
    ]
    return out


def _seconds(values: list[float]) -> str:
    return (f"median **{statistics.median(values):.2f} s**, max {max(values):.2f} s "
            f"({', '.join(f'{v:.2f}' for v in values)})")  # fmt: skip


def run(*, quick: bool) -> tuple[Backend, list[Result], float]:
    settle, window = (70.0, 60.0) if quick else (75.0, 120.0)
    publications = 100 if quick else 300
    results: list[Result] = []
    errors: list[BaseException] = []
    with backend() as where:
        progress(f"watch_cost: {where.name} at {where.url}")

        def one(variant: str, settings: dict[str, str]) -> None:
            try:
                results.append(measure(variant, settings, where.url, settle=settle,
                                       window=window, publications=publications))  # fmt: skip
            except BaseException as exc:  # reported after the join
                errors.append(exc)

        threads = [threading.Thread(target=one, args=item) for item in VARIANTS.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    results.sort(key=lambda r: list(VARIANTS).index(r.variant))
    return where, results, window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows (~5 min)")
    parser.add_argument("--record", action="store_true", help=f"append to {RECORD}")
    args = parser.parse_args()
    where, results, window = run(quick=args.quick)
    rendered = table(where, results, window=window)
    emit([rendered], record=False, header="watch_cost.py")
    if args.record:
        if not RECORD.exists():
            RECORD.write_text("# Watching from outside (bench/watch_cost.py)\n\nNewest last.\n")
        with RECORD.open("a") as out:
            out.write(f"\n## watch_cost.py\n\nMachine: {machine()}\n\n{rendered.render()}")


if __name__ == "__main__":
    main()
