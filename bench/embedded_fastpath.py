"""Benchmark: the embedded moto server with and without Flowdash's fast path (issue 11).

Each configuration runs in its own subprocess (an EmbeddedServer on a loopback
port), so the two never share moto's process-wide classes or memory; this process
drives both over HTTP with boto3 and reads the server's RSS from /proc. Printed:
a markdown table of metric | stock | fast path | ratio | target | met?.

    .venv/bin/python bench/embedded_fastpath.py           # full run, ~8 min on 2 cores
    .venv/bin/python bench/embedded_fastpath.py --quick   # smaller run, ~4 min

Most of the time is stock moto filling a queue to 3,000 messages (~2 min: each
SendMessage re-counts the queue), which --quick does not trim.

What is measured, and why this way:
- Depth cost: median latency of SendMessage, GetQueueAttributes(All) and
  ReceiveMessage(10) on one queue at depth 100 and at depth 3,000. After each
  timed receive the ten messages are deleted and replaced (untimed), so the depth
  stays put. Target: depth 3,000 within 2x of depth 100 (stock: ~20x).
- SNS fanout: Publish rate to a topic with 1 / 5 / 20 SQS subscriptions, after one
  untimed warm-up publish (stock generates a key per subscription on the first).
  Target: at least 3x stock at 5 and 20 subscriptions.
- Memory: server RSS growth while N messages are sent, received and deleted in
  batches of ten, after a warm-up of 2,000. Target: < 50 MB for 100,000. To stay
  within ~10 minutes the full run measures stock moto over 25,000 messages only
  (~80 s; 100,000 would take ~6 min) and prints its 100,000 figure as 4x that,
  marked as an estimate; the fast path is measured at 25,000 and at 100,000.
- Transport: Flowdash's own clients reach the embedded server in-process
  (messaging/embedded/inprocess.py) instead of over its loopback port. In one subprocess
  holding a fast-path server, the same calls run through a connection of each
  kind in interleaved rounds; per call, the median wall time and the process's
  CPU time (client and server are both in it, as in ``manage.py serve``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from messaging.config import BackendConfig  # noqa: E402
from messaging.connection import Connection  # noqa: E402

SHALLOW, DEEP = 100, 3_000
FANOUTS = (1, 5, 20)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """How much work one run does; --quick trims every count, never the depths."""

    calls: int  # timed SendMessage / GetQueueAttributes calls per depth
    receives: int  # timed ReceiveMessage(10) calls per depth
    publishes: int  # timed publishes per fanout
    messages: int  # messages sent, received and deleted for the fast path's memory figure
    stock_messages: int  # the same for stock moto, which takes ~3x as long per message


FULL = Plan(calls=30, receives=10, publishes=150, messages=100_000, stock_messages=25_000)
QUICK = Plan(calls=10, receives=4, publishes=40, messages=10_000, stock_messages=10_000)


# --- the server side: one EmbeddedServer per subprocess


def serve(fastpath: bool) -> None:
    """Run an embedded server until stdin closes; first line out is its URL as JSON."""
    from messaging.embedded import EmbeddedServer

    server = EmbeddedServer(port=0, fastpath=fastpath)
    url = server.start()
    print(json.dumps({"url": url, "fastpath_active": server.fastpath_active}), flush=True)
    sys.stdin.read()
    server.stop()


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    pid: int

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc status")


@contextmanager
def server_process(fastpath: bool) -> Iterator[Server]:
    command = [sys.executable, __file__, "--serve", "--fastpath", "1" if fastpath else "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        if started["fastpath_active"] is not fastpath:
            raise RuntimeError(f"asked for fast path {fastpath}, server says {started}")
        yield Server(url=started["url"], pid=process.pid)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the client side


def timed_ms(call: Callable[[], Any], times: int) -> float:
    """Median wall time of one call, in milliseconds."""
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def send_ten(conn: Connection, url: str, body: str = "x" * 200) -> None:
    entries = [{"Id": str(n), "MessageBody": body} for n in range(10)]
    conn.sqs.send_message_batch(QueueUrl=url, Entries=entries)


def delete_all(conn: Connection, url: str, messages: list[dict[str, Any]]) -> None:
    if messages:
        conn.sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
            ],
        )


def depth_costs(conn: Connection, plan: Plan) -> dict[str, float]:
    url = conn.sqs.create_queue(QueueName="depth")["QueueUrl"]
    results: dict[str, float] = {}
    depth = 0
    for target in (SHALLOW, DEEP):
        while depth < target:
            send_ten(conn, url)
            depth += 10
        results[f"GetQueueAttributes(All)@{target}"] = timed_ms(
            lambda: conn.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
            plan.calls,
        )
        results[f"SendMessage@{target}"] = timed_ms(
            lambda: conn.sqs.send_message(QueueUrl=url, MessageBody="y" * 200), plan.calls
        )
        depth += plan.calls
        samples = []
        for _ in range(plan.receives):
            start = time.perf_counter()
            messages = conn.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            samples.append((time.perf_counter() - start) * 1000)
            if len(messages) != 10:
                raise RuntimeError(f"expected 10 messages at depth {depth}, got {len(messages)}")
            delete_all(conn, url, messages)
            send_ten(conn, url)
        results[f"ReceiveMessage(10)@{target}"] = statistics.median(samples)
    return results


def fanout_rates(conn: Connection, plan: Plan) -> dict[str, float]:
    results = {}
    for fanout in FANOUTS:
        topic = conn.sns.create_topic(Name=f"fanout-{fanout}")["TopicArn"]
        for n in range(fanout):
            queue = conn.sqs.create_queue(QueueName=f"fanout-{fanout}-{n}")["QueueUrl"]
            arn = conn.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
            conn.sns.subscribe(
                TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"]
            )
        conn.sns.publish(TopicArn=topic, Message="warm-up")
        start = time.perf_counter()
        for n in range(plan.publishes):
            conn.sns.publish(TopicArn=topic, Message=json.dumps({"order": n}))
        results[f"Publish/s@{fanout}"] = plan.publishes / (time.perf_counter() - start)
    return results


def memory_growth(
    conn: Connection, server: Server, checkpoints: tuple[int, ...]
) -> dict[str, float]:
    """RSS growth at each cumulative message count, after a warm-up of 2,000 messages.

    Two client threads, each on its own queue, keep the server busy while the
    other one is in boto3: the server does the same work, in less wall time.
    """
    urls = [conn.sqs.create_queue(QueueName=f"memory-{n}")["QueueUrl"] for n in range(2)]

    def cycle(url: str, count: int) -> None:
        for _ in range(count // 10):
            send_ten(conn, url)
            received = conn.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            delete_all(conn, url, received.get("Messages", []))

    def run(count: int) -> None:
        with ThreadPoolExecutor(max_workers=len(urls)) as pool:
            for future in [pool.submit(cycle, url, count // len(urls)) for url in urls]:
                future.result()

    run(2_000)
    before = server.rss_mb()
    start = time.perf_counter()
    results, done = {}, 0
    for checkpoint in checkpoints:
        run(checkpoint - done)
        done = checkpoint
        results[f"RSS growth MB@{checkpoint}"] = server.rss_mb() - before
        results[f"cycle seconds@{checkpoint}"] = time.perf_counter() - start
    return results


def run_configuration(fastpath: bool, plan: Plan) -> dict[str, float]:
    label = "fast path" if fastpath else "stock"
    results: dict[str, float] = {}
    with server_process(fastpath) as server:
        conn = Connection(BackendConfig(), endpoint_url=server.url)
        print(f"[{label}] queue depth costs ...", file=sys.stderr, flush=True)
        results.update(depth_costs(conn, plan))
        print(f"[{label}] SNS fanout ...", file=sys.stderr, flush=True)
        results.update(fanout_rates(conn, plan))
    with server_process(fastpath) as server:  # a fresh server: memory of this phase only
        conn = Connection(BackendConfig(), endpoint_url=server.url)
        checkpoints = sorted({plan.stock_messages, plan.messages if fastpath else 0} - {0})
        print(
            f"[{label}] memory over {checkpoints[-1]:,} messages ...", file=sys.stderr, flush=True
        )
        results.update(memory_growth(conn, server, tuple(checkpoints)))
    return results


# --- the table


def table(stock: dict[str, float], fast: dict[str, float], plan: Plan) -> str:
    rows = [
        "| metric | stock | fast path | ratio | target | met? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]

    def row(metric: str, s: str, f: str, ratio: str, target: str = "", met: bool | None = None):
        verdict = "" if met is None else ("yes" if met else "**NO**")
        rows.append(f"| {metric} | {s} | {f} | {ratio} | {target} | {verdict} |")

    for call in ("SendMessage", "GetQueueAttributes(All)", "ReceiveMessage(10)"):
        for depth in (SHALLOW, DEEP):
            key = f"{call}@{depth}"
            row(
                f"{call} at depth {depth:,} (ms)",
                f"{stock[key]:.1f}",
                f"{fast[key]:.1f}",
                f"{stock[key] / fast[key]:.1f}x faster",
            )
        s_growth = stock[f"{call}@{DEEP}"] / stock[f"{call}@{SHALLOW}"]
        f_growth = fast[f"{call}@{DEEP}"] / fast[f"{call}@{SHALLOW}"]
        row(
            f"{call}: depth {DEEP:,} / depth {SHALLOW}",
            f"{s_growth:.1f}x",
            f"{f_growth:.2f}x",
            "",
            "fast path ≤ 2x",
            f_growth <= 2,
        )
    for fanout in FANOUTS:
        key = f"Publish/s@{fanout}"
        speedup = fast[key] / stock[key]
        needs = fanout >= 5
        row(
            f"SNS Publish to {fanout} SQS subscription{'s' if fanout > 1 else ''} (msg/s)",
            f"{stock[key]:.0f}",
            f"{fast[key]:.0f}",
            f"{speedup:.1f}x",
            "≥ 3x stock" if needs else "",
            speedup >= 3 if needs else None,
        )
    few, many = plan.stock_messages, plan.messages
    stock_mb, fast_mb = stock[f"RSS growth MB@{few}"], fast[f"RSS growth MB@{few}"]
    row(
        f"Server RSS growth, {few:,} messages sent, received, deleted (MB)",
        f"{stock_mb:.0f}",
        f"{fast_mb:.0f}",
        f"{stock_mb / max(fast_mb, 0.5):.0f}x less",
    )
    if many != few:
        estimate = stock_mb * many / few
        row(
            f"Server RSS growth, {many:,} messages sent, received, deleted (MB)",
            f"≈{estimate:.0f} ({many // few} times {few:,}; not run, to bound the time)",
            f"{fast[f'RSS growth MB@{many}']:.0f}",
            f"{estimate / max(fast[f'RSS growth MB@{many}'], 0.5):.0f}x less (est.)",
            "< 50 MB",
            fast[f"RSS growth MB@{many}"] < 50 if many == 100_000 else None,
        )
    else:
        row("(the < 50 MB target is for 100,000 messages: run without --quick)", "", "", "")
    s_time, f_time = stock[f"cycle seconds@{few}"], fast[f"cycle seconds@{few}"]
    row(
        f"Wall time for those {few:,} messages (s)",
        f"{s_time:.0f}",
        f"{f_time:.0f}",
        f"{s_time / f_time:.1f}x faster",
    )
    return "\n".join(rows)


# --- transport: over HTTP vs in-process, both in one process


TRANSPORT_CALLS = ("SendMessage", "Publish (1 subscription)", "ReceiveMessage(10) + DeleteBatch")


def transport_measure(rounds: int, calls: int) -> dict[str, dict[str, float]]:
    """In this process: an embedded server, and the same calls through each transport."""
    from dataclasses import replace

    from messaging.embedded import EmbeddedServer

    server = EmbeddedServer(port=0)
    url = server.start()
    conns = {
        "HTTP": Connection(replace(BackendConfig(), moto_inprocess=False), endpoint_url=url),
        "in-process": Connection(BackendConfig(), endpoint_url=url),
    }
    assert conns["in-process"].in_process and not conns["HTTP"].in_process
    setup = conns["HTTP"]
    queue = setup.sqs.create_queue(QueueName="transport")["QueueUrl"]
    drain = setup.sqs.create_queue(QueueName="transport-fanout")["QueueUrl"]
    arn = setup.sqs.get_queue_attributes(QueueUrl=drain, AttributeNames=["QueueArn"])
    topic = setup.sns.create_topic(Name="transport")["TopicArn"]
    setup.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])

    def receive_delete(conn: Connection) -> None:
        messages = conn.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        delete_all(conn, queue, messages.get("Messages", []))

    operations: dict[str, Callable[[Connection], Any]] = {
        "SendMessage": lambda c: c.sqs.send_message(QueueUrl=queue, MessageBody="y" * 200),
        "Publish (1 subscription)": lambda c: c.sns.publish(TopicArn=topic, Message="z" * 200),
        "ReceiveMessage(10) + DeleteBatch": receive_delete,
    }
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {
        kind: {op: [] for op in operations} for kind in conns
    }
    for _ in range(rounds):
        for op, call in operations.items():
            for kind, conn in conns.items():
                for _ in range(calls):
                    if op.startswith("ReceiveMessage"):
                        send_ten(setup, queue)  # the ten to receive, untimed
                    wall, cpu = time.perf_counter(), time.process_time()
                    call(conn)
                    samples[kind][op].append(
                        ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
                    )
    server.stop()
    return {
        f"{kind}|{op}": {
            "wall": statistics.median(w for w, _ in found),
            "cpu": statistics.fmean(c for _, c in found),
        }
        for kind, ops in samples.items()
        for op, found in ops.items()
    }


def transport_table(results: dict[str, dict[str, float]]) -> str:
    rows = [
        "| Flowdash's own call (fast path on) | over HTTP: wall / CPU ms "
        "| in-process: wall / CPU ms | CPU saved |",
        "| --- | --- | --- | --- |",
    ]  # fmt: skip
    for op in TRANSPORT_CALLS:
        http, inproc = results[f"HTTP|{op}"], results[f"in-process|{op}"]
        rows.append(
            f"| {op} | {http['wall']:.1f} / {http['cpu']:.1f} | "
            f"{inproc['wall']:.1f} / {inproc['cpu']:.1f} | "
            f"{(1 - inproc['cpu'] / http['cpu']) * 100:.0f}% |"
        )
    return "\n".join(rows)


def transport_run(quick: bool) -> str:
    """Run the transport comparison in a fresh subprocess (moto's classes are process-wide)."""
    out = subprocess.run(
        [sys.executable, __file__, "--transport", "--quick" if quick else "--full"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (~1.5 min)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fastpath", choices=("0", "1"), default="1", help=argparse.SUPPRESS)
    parser.add_argument("--transport", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.transport:
        rounds, calls = (3, 30) if args.quick else (5, 60)
        print(transport_table(transport_measure(rounds, calls)))
        return
    if args.serve:
        serve(args.fastpath == "1")
        return

    from importlib.metadata import version

    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    stock = run_configuration(False, plan)
    fast = run_configuration(True, plan)
    print(
        f"Run: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"moto {version('moto')}, boto3 {version('boto3')}, "
        f"{'--quick' if args.quick else 'full'} run "
        f"({plan.calls} calls, {plan.receives} receives per depth, "
        f"{plan.publishes} publishes per fanout), "
        f"{time.perf_counter() - started:.0f} s in all.\n"
    )
    print(table(stock, fast, plan))
    print()
    print(transport_run(args.quick))


if __name__ == "__main__":
    main()
