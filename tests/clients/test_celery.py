"""Celery on kombu's SQS transport against the embedded backend: a real ``celery
worker`` subprocess consumes tasks that the test sends with ``.delay()``.

Through ``/ws/flow/`` the test checks that the queue the worker created appeared
within a second of kombu's CreateQueue returning (stamped in the worker, see
``celery_app``), that every task message sent was seen once as ``published`` by
the producer (kombu sends with boto3), and that the worker's receives and deletes
(kombu acks by deleting the message) were seen once each, with the worker's
identity, and that the queue ends empty.

kombu receives with its own asynchronous HTTP client (pycurl), whose requests carry
pycurl's default user agent (``Mozilla/5.0 (compatible; pycurl)``), and deletes
with boto3 (``Boto3/...``). The worker shows as one consumer, named by what received
(``pycurl on <queue>``): a delete is credited to the consumer that received.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.live import ROOT, LiveServer

from . import celery_app
from .conftest import FlowWatch, boto3_clients, outside_env, queue_arn, wait_for

TASKS = 12
APPEAR_WITHIN = 1.0


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path
    journal: Path
    queue: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def entries(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines() if line]

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the celery worker exited ({self.proc.returncode}):\n"
                                 f"{self.output()}")  # fmt: skip
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def worker(served: LiveServer, watch: FlowWatch, tmp_path: Path) -> Iterator[Worker]:
    """A celery worker, started once the flow socket is open (it sees the queue made)."""
    queue = f"celery-{secrets.token_hex(3)}"
    log, journal = tmp_path / "worker.log", tmp_path / "journal.jsonl"
    env = outside_env(
        **{
            celery_app.ENDPOINT_VARIABLE: served.moto,
            celery_app.QUEUE_VARIABLE: queue,
            celery_app.JOURNAL_VARIABLE: str(journal),
        }
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.clients.celery_app", "worker",
             "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--loglevel", "INFO", "--queues", queue, "--hostname", f"outside@{queue}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    running = Worker(proc=proc, log=log, journal=journal, queue=queue)
    try:
        yield running
    finally:
        running.stop()


def test_celery_worker_is_seen_whole(served: LiveServer, watch: FlowWatch, worker: Worker) -> None:
    arn = queue_arn(worker.queue)

    # The worker creates its queue as it starts consuming.
    wait_for(
        lambda: worker.alive() and any("created" in e for e in worker.entries()),
        "the worker's CreateQueue",
    )
    [created] = [e for e in worker.entries() if "created" in e]
    assert created["created"].endswith(f"/{worker.queue}"), created
    watch.arrival("resource_changed", kind="queue", action="created", arn=arn)
    appeared = watch.of("resource_changed", kind="queue", action="created", arn=arn)[0]
    late = appeared["_wall"] - created["at"]
    assert late <= APPEAR_WITHIN, f"the queue announced {late:.2f} s after CreateQueue returned"
    # ... and in the snapshot the page fetches on that announcement (wall clock: the
    # CreateQueue time was taken in the worker's process).
    watch.in_topology(arn)
    shown = late + (watch.topology_seen[arn] - appeared["_at"])
    assert shown <= APPEAR_WITHIN, f"the queue in the topology {shown:.2f} s after"

    # The test is the producer: kombu sends each task message with boto3.
    celery_app.configure(served.moto, worker.queue)
    sent_at = time.monotonic()
    results = [celery_app.record.delay(n) for n in range(TASKS)]
    sent_in = time.monotonic() - sent_at
    assert len({r.id for r in results}) == TASKS

    wait_for(
        lambda: worker.alive() and len([e for e in worker.entries() if "task" in e]) >= TASKS,
        f"the worker to run {TASKS} tasks",
    )
    ran = sorted(e["task"] for e in worker.entries() if "task" in e)
    assert ran == list(range(TASKS)), ran

    for kind in ("published", "received", "processed"):
        watch.wait(lambda k=kind: watch.count(k, arn) >= TASKS, f"{TASKS} {kind} on the queue")

    def emptied() -> bool:
        depths = watch.of("depth", queue_arn=arn)
        return bool(depths) and (depths[-1]["visible"], depths[-1]["in_flight"]) == (0, 0)

    watch.wait(emptied, "the queue's depth to reach 0")
    time.sleep(0.3)  # a few more frames: anything counted twice would show now
    for kind in ("published", "received", "processed"):
        assert watch.count(kind, arn) == TASKS, (kind, watch.summary())

    published = watch.of("published", queue_arn=arn)
    received = watch.of("received", queue_arn=arn)
    processed = watch.of("processed", queue_arn=arn)
    assert len(published) == len(received) == len(processed) == TASKS, watch.summary()
    # The producer is boto3 (in this process); published traces are SQS MessageIds.
    assert {e["client"].split("/")[0] for e in published} == {"Boto3"}, published[:2]
    assert {e["source"] for e in published} == {"external"}
    traces = {e["trace_id"] for e in published}
    assert {e["trace_id"] for e in received} == traces
    assert {e["trace_id"] for e in processed} == traces
    assert {e["message_id"] for e in processed} == {e["message_id"] for e in received}
    # The worker is one consumer: kombu's pycurl receives, its boto3 deletes.
    receivers = {e["worker"] for e in received}
    deleters = {e["worker"] for e in processed}
    assert receivers == deleters == {f"pycurl on {worker.queue}"}, (receivers, deleters)
    assert all(e["receive_count"] == 1 for e in received), received

    assert watch.troubles() == []
    made_at = sorted(e["ts"] - created["at"] for e in published)

    # The snapshot's consumers of the queue account for every task.
    consumers = [w for w in watch.resync()["workers"] if w["queue_arn"] == arn]
    assert [(w["name"], w["processed"], w["busy"]) for w in consumers] == [
        (f"pycurl on {worker.queue}", TASKS, False)
    ], consumers

    # Exactly what Celery made: its one queue, no tap queue or subscription.
    sns, sqs = boto3_clients(served)
    assert [u.rsplit("/", 1)[-1] for u in sqs.list_queues().get("QueueUrls", [])] == [worker.queue]
    assert sns.list_subscriptions()["Subscriptions"] == []
    worker.stop()
    assert "Traceback" not in worker.output(), worker.output()
    print(
        f"\ncelery: queue announced {late:+.2f} s and in a snapshot {shown:+.2f} s after "
        f"CreateQueue returned; {TASKS} tasks sent in {sent_in:.2f} s, made "
        f"{made_at[0]:.2f}..{made_at[-1]:.2f} s after CreateQueue; producer "
        f"{published[0]['client']}; receives by {receivers}; deletes by {deleters}; "
        f"snapshot consumers {consumers}; {watch.summary()}"
    )
