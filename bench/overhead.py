"""Benchmark 1, overhead: how fast Flowdash's publish paths go next to bare boto3.

One ``manage.py serve`` process (Daphne, the flow engine and the embedded moto
server, default settings except the per-user publish limit, which is lifted) is
driven from here. Each path sends to the same resources on the same moto server,
in interleaved rounds so that drift (queue depth, moto's caches) hits every path
alike; a path's figure is the median of its rounds.

Paths, each against the same-run baseline printed above it:

- topic: bare ``sns.publish`` loop; ``messaging.publishing.topic_publish`` (the
  messaging API, validation included, from this process); the JSON API
  ``POST /api/topics/<arn>/publish`` with a bearer token (a script) and with a
  session cookie and CSRF header (the browser).
- queue: bare ``sqs.send_message``; ``messaging.publishing.queue_send``;
  ``POST /api/queues/<arn>/messages``.
- batches: bare ``sns.publish_batch`` of 10; ``POST /api/topics/<arn>/publish-batch``
  with 10 entries (token); Flowdash's burst (``POST /api/topics/<arn>/burst``,
  PublishBatch inside the engine), timed until the subscribed queue holds every
  message.
- queue batches: bare ``sqs.send_message_batch`` of 10;
  ``POST /api/queues/<arn>/messages/batch`` with 10 entries (token).
- floor: ``GET /healthz`` (no auth, no AWS call) through the same Daphne and Django
  middleware: the per-request cost no API path can go below. It has no baseline;
  it explains the single-message rows, whose bare loops are a few milliseconds.

The topic has one subscribed queue and, as always under Flowdash, its tap queue,
so each publish is two SQS deliveries inside moto for every path. Every loop is
one client doing one request at a time. Target: every path at least 80% of its
bare loop.

    .venv/bin/python bench/overhead.py [--quick] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.harness import (
    FlowdashServer,
    Table,
    api_topology,
    emit,
    engine_sees,
    flowdash_server,
    login_client,
    progress,
    settle,
)
from messaging import publishing
from messaging.config import BackendConfig
from messaging.connection import Connection

TARGET = 0.80


def session_client(server: FlowdashServer) -> httpx.Client:
    """A browser-like client: logged in by the form, sending the CSRF header on POSTs."""
    client = login_client(server.base_url, timeout=60)
    client.headers.update(
        {"X-CSRFToken": client.cookies["csrftoken"], "Referer": f"{server.base_url}/"}
    )
    return client


def rate(send: Callable[[int], None], count: int) -> float:
    """Messages per second of ``count`` calls to ``send(n)``, one at a time."""
    start = time.perf_counter()
    for n in range(count):
        send(n)
    return count / (time.perf_counter() - start)


def ok(response: httpx.Response) -> None:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")


def burst_rate(
    server: FlowdashServer, api: httpx.Client, topic: str, queue_url: str, n: int
) -> float:
    """Messages per second of one API burst, until the subscribed queue holds them all."""
    sqs = server.boto("sqs")

    def depth() -> int:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    before = depth()
    start = time.perf_counter()
    ok(
        api.post(
            f"/api/topics/{topic}/burst", json={"count": n, "rate": 1000, "body_template": "b{{n}}"}
        )
    )
    deadline = start + 120
    while depth() < before + n:
        if time.perf_counter() > deadline:
            raise RuntimeError("the burst did not arrive within 120 s")
        time.sleep(0.02)
    return n / (time.perf_counter() - start)


def measure(server: FlowdashServer, *, count: int, rounds: int) -> dict[str, list[float]]:
    topic, (queue,) = api_topology(server, name="overhead", fanout=1)
    asyncio.run(engine_sees(server, [topic, queue["arn"]]))
    with server.api() as api:
        response = api.post("/api/queues", json={"name": "overhead-direct"})
        ok(response)
        direct = response.json()
    sns, sqs = server.boto("sns"), server.boto("sqs")
    conn = Connection(BackendConfig(), endpoint_url=server.moto_url)
    token = server.api()
    browser = session_client(server)
    body = '{"order": %d, "note": "a benchmark message of about a hundred bytes, as a demo sends"}'

    paths: dict[str, Callable[[int], None]] = {
        "floor: GET /healthz through Daphne and Django (no auth, no AWS)": lambda n: ok(
            token.get("/healthz")
        ),
        "topic: bare boto3 sns.publish": lambda n: sns.publish(TopicArn=topic, Message=body % n),
        "topic: messaging topic_publish": lambda n: publishing.topic_publish(
            conn, topic_arn=topic, body=body % n
        ),
        "topic: API, token (script)": lambda n: ok(
            token.post(f"/api/topics/{topic}/publish", json={"body": body % n})
        ),
        "topic: API, session (browser)": lambda n: ok(
            browser.post(f"/api/topics/{topic}/publish", json={"body": body % n})
        ),
        "queue: bare boto3 sqs.send_message": lambda n: sqs.send_message(
            QueueUrl=direct["url"], MessageBody=body % n
        ),
        "queue: messaging queue_send": lambda n: publishing.queue_send(
            conn, queue_url=direct["url"], body=body % n
        ),
        "queue: API, token (script)": lambda n: ok(
            token.post(f"/api/queues/{direct['arn']}/messages", json={"body": body % n})
        ),
    }
    batches = max(1, count // 10)

    def bare_batch(n: int) -> None:
        sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[
                {"Id": str(i), "Message": body % (n * 10 + i)} for i in range(10)
            ],
        )

    def bare_queue_batch(n: int) -> None:
        sqs.send_message_batch(
            QueueUrl=direct["url"],
            Entries=[{"Id": str(i), "MessageBody": body % (n * 10 + i)} for i in range(10)],
        )

    def entries(n: int) -> dict[str, list[dict[str, str]]]:
        return {"entries": [{"id": str(i), "body": body % (n * 10 + i)} for i in range(10)]}

    batch_paths: dict[str, Callable[[int], None]] = {
        "batch: bare boto3 sns.publish_batch(10)": bare_batch,
        "batch: API publish-batch(10), token": lambda n: ok(
            token.post(f"/api/topics/{topic}/publish-batch", json=entries(n))
        ),
        "queue batch: bare boto3 sqs.send_message_batch(10)": bare_queue_batch,
        "queue batch: API messages/batch(10), token": lambda n: ok(
            token.post(f"/api/queues/{direct['arn']}/messages/batch", json=entries(n))
        ),
    }
    results: dict[str, list[float]] = {name: [] for name in paths}
    results.update({name: [] for name in batch_paths})
    results["batch: API burst (PublishBatch in the engine)"] = []
    for send in [*paths.values(), *batch_paths.values()]:  # warm-up: keys, connections, caches
        rate(send, 10)
    for round_ in range(rounds):
        progress(f"overhead: round {round_ + 1} of {rounds}")
        for name, send in paths.items():
            settle(server)
            results[name].append(rate(send, count))
        for name, send in batch_paths.items():
            settle(server)
            results[name].append(rate(send, batches) * 10)
        settle(server)
        results["batch: API burst (PublishBatch in the engine)"].append(
            burst_rate(server, token, topic, queue["url"], batches * 10)
        )
    token.close()
    browser.close()
    return results


BASELINES = {
    "topic": "topic: bare boto3 sns.publish",
    "queue": "queue: bare boto3 sqs.send_message",
    "batch": "batch: bare boto3 sns.publish_batch(10)",
    "queue batch": "queue batch: bare boto3 sqs.send_message_batch(10)",
}


def table(results: dict[str, list[float]], *, count: int, rounds: int, cpu: float) -> Table:
    out = Table(
        title="1. Publish overhead: Flowdash's paths vs a bare boto3 loop, same moto server",
        columns=["path", "msg/s (median)", "rounds", "% of bare loop", "target", "met?"],
        notes=[
            f"{rounds} interleaved rounds of {count} messages per path, one request at a time; "
            "the topic has 1 subscribed queue plus Flowdash's tap queue.",
            "Server: one `manage.py serve` process (Daphne + flow engine + embedded moto, "
            f"fast path on); its CPU time over the whole benchmark: {cpu:.0f} s.",
            "The per-user publish rate limit (FLOWDASH_PUBLISH_RATE) was lifted for the run.",
        ],
    )
    for name, rates in results.items():
        median = statistics.median(rates)
        spread = ", ".join(f"{r:.0f}" for r in rates)
        baseline = BASELINES.get(name.split(":", 1)[0])
        if baseline is None:  # the floor: no bare loop to compare with
            out.row(name, f"{median:.0f} requests/s", spread, "", "", "")
            continue
        if name == baseline:
            out.row(f"**{name}** (baseline)", f"{median:.0f}", spread, "100%", "", "")
            continue
        share = median / statistics.median(results[baseline])
        verdict = out.target(f"{name} ≥ 80% of bare ({share:.0%})", share >= TARGET)
        out.row(name, f"{median:.0f}", spread, f"{share:.0%}", "≥ 80%", verdict)
    return out


def run(*, quick: bool) -> list[Table]:
    count, rounds = (100, 2) if quick else (300, 3)
    with flowdash_server() as server:
        before = server.stat().cpu_seconds
        results = measure(server, count=count, rounds=rounds)
        cpu = server.stat().cpu_seconds - before
    return [table(results, count=count, rounds=rounds, cpu=cpu)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (~1 min)")
    parser.add_argument("--record", action="store_true", help="append to bench/results/flow.md")
    args = parser.parse_args()
    emit(run(quick=args.quick), record=args.record, header="overhead.py")


if __name__ == "__main__":
    main()
