"""Each shipped scenario, loaded on a real moto server and run with the flow engine
in-process: each test checks what the scenario's explanation promises."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from dashboard.classroom import scenario_services as services
from dashboard.classroom.loader import scenario_files
from tests.classroom import test_push_class

pytestmark = pytest.mark.django_db(transaction=True)


async def load_and_play(scenario, user, engine, **load_kwargs):
    """Load, wait until the engine sees (and taps) the resources, then play."""
    loaded = await sync_to_async(services.scenario_load)(
        scenario=scenario, user=user, **load_kwargs
    )
    await engine.knows(loaded)
    played = await sync_to_async(services.scenario_play)(scenario=scenario, user=user)
    return loaded, played


def processed_ids(engine, queue_arn: str) -> list[str]:
    return [e["message_id"] for e in engine.of("processed", queue_arn=queue_arn)]


async def test_fanout(shipped, teacher, engine) -> None:
    """One publish becomes three deliveries, each queue's own worker processes its copy."""
    loaded, _ = await load_and_play(shipped["fanout"], teacher, engine)
    topic = loaded.topics["orders"]
    await engine.until(lambda: len(engine.of("published", topic_arn=topic)) >= 3)
    traces = [e["trace_id"] for e in engine.of("published", topic_arn=topic)][:3]
    await engine.until(lambda: all(len(engine.of("processed", trace_id=t)) == 3 for t in traces))
    for trace in traces:
        delivered = sorted(e["endpoint"] for e in engine.of("delivered", trace_id=trace))
        assert delivered == sorted(loaded.queues.values())
        workers = {e["worker"] for e in engine.of("processed", trace_id=trace)}
        assert workers == {f"sc-fanout-{q}#1" for q in ("billing", "shipping", "analytics")}


async def test_work_queue(shipped, teacher, engine) -> None:
    """Each job goes to exactly one of three competing workers; together they drain it."""
    loaded, _ = await load_and_play(shipped["work-queue"], teacher, engine)
    jobs = loaded.queues["jobs"]
    await engine.until(lambda: len(set(processed_ids(engine, jobs))) == 30, within=30)
    done = processed_ids(engine, jobs)
    assert len(done) == len(set(done)) == 30  # no job done twice
    by_worker = Counter(e["worker"] for e in engine.of("processed", queue_arn=jobs))
    assert len(by_worker) >= 2 and sum(by_worker.values()) == 30
    await engine.until(
        lambda: (
            (last := engine.of("depth", queue_arn=jobs)[-1])["visible"] == last["in_flight"] == 0
        )
    )


async def test_buffering_a_spike(shipped, teacher, engine) -> None:
    """The depth rises while the burst lasts and falls to zero; every message is processed."""
    loaded, _ = await load_and_play(shipped["spike"], teacher, engine)
    inbox = loaded.queues["inbox"]
    await engine.until(lambda: len(set(processed_ids(engine, inbox))) == 200, within=40)
    published = {e["trace_id"] for e in engine.of("published", queue_arn=inbox)}
    assert set(processed_ids(engine, inbox)) == published and len(published) == 200
    peak = max(e["visible"] for e in engine.of("depth", queue_arn=inbox))
    assert peak >= 50, f"the depth never rose (peak {peak})"
    await engine.until(
        lambda: (
            (last := engine.of("depth", queue_arn=inbox)[-1])["visible"] == last["in_flight"] == 0
        )
    )


async def test_fifo_vs_standard(shipped, teacher, engine) -> None:
    """FIFO: order held per group, retries dropped. Standard: everything, retries included."""
    loaded, played = await load_and_play(shipped["fifo"], teacher, engine)
    fifo, standard = loaded.queues["orders.fifo"], loaded.queues["orders"]
    assert len(played.sent) == 20
    await engine.until(
        lambda: (
            len(processed_ids(engine, fifo)) >= 8 and len(processed_ids(engine, standard)) >= 10
        ),
        within=30,
    )
    fifo_bodies = [engine.body(e["trace_id"]) for e in engine.of("processed", queue_arn=fifo)]
    for group in ("alice", "bob"):
        assert [b for b in fifo_bodies if b.startswith(group)] == [
            f"{group} #{n}" for n in range(1, 5)
        ]
    assert len(fifo_bodies) == 8
    standard_bodies = Counter(
        engine.body(e["trace_id"]) for e in engine.of("processed", queue_arn=standard)
    )
    assert sum(standard_bodies.values()) == 10
    assert standard_bodies["alice #2"] == standard_bodies["bob #3"] == 2


async def test_dead_letter_queue(shipped, teacher, engine) -> None:
    """The poison message fails maxReceiveCount times, is parked in the DLQ, and after
    "Fix the worker" and "Redrive" it is processed; the others pass it by."""
    scenario = shipped["dlq"]
    loaded, played = await load_and_play(scenario, teacher, engine)
    payments, dead = loaded.queues["payments"], loaded.queues["payments-dlq"]
    poison = played.sent[1]
    await engine.until(lambda: engine.of("dead_lettered", trace_id=poison), within=30)
    (parked,) = engine.of("dead_lettered", trace_id=poison)
    assert parked["dead_letter_arn"] == dead and parked["receive_count"] == 3
    assert [e["receive_count"] for e in engine.of("failed", trace_id=poison)] == [1, 2, 3]
    for trace in (played.sent[0], played.sent[2], played.sent[3]):
        assert engine.of("processed", trace_id=trace, queue_arn=payments)

    fixed = await sync_to_async(services.scenario_action_run)(
        scenario=scenario, index=0, user=teacher
    )
    assert fixed == "Fix the worker: done."
    moved = await sync_to_async(services.scenario_action_run)(
        scenario=scenario, index=1, user=teacher
    )
    assert moved == "Redrive the DLQ: moved 1 message(s) back to payments."

    def poison_processed() -> bool:
        return any(
            "poison" in engine.body(e["trace_id"])
            for e in engine.of("processed", queue_arn=payments)
        )

    await engine.until(poison_processed, within=20)


async def test_filter_policies(shipped, teacher, engine) -> None:
    """Orders reach only the queues whose policy matches; each filtered copy says why."""
    loaded, played = await load_and_play(shipped["filters"], teacher, engine)
    name = {arn: short for short, arn in loaded.queues.items()}
    expected = {
        "order A": {"eu-orders", "big-orders"},
        "order B": {"us-orders", "small-orders"},
        "order C": {"eu-orders"},
        "order D": {"small-orders"},
        "order E": set(),
    }
    traces = played.sent
    await engine.until(
        lambda: all(
            len(engine.of("delivered", trace_id=t)) + len(engine.of("filtered", trace_id=t)) == 4
            for t in traces
        )
    )
    for trace in traces:
        label = engine.body(trace).split(":")[0]
        delivered = {name[e["endpoint"]] for e in engine.of("delivered", trace_id=trace)}
        assert delivered == expected[label], label
        filtered = engine.of("filtered", trace_id=trace)
        assert {name[e["endpoint"]] for e in filtered} == set(loaded.queues) - expected[label]
        assert all(e["reason"] for e in filtered)
    tokyo = traces[4]
    reasons = {name[e["endpoint"]]: e["reason"] for e in engine.of("filtered", trace_id=tokyo)}
    assert "region" in reasons["eu-orders"] and "eu-" in reasons["eu-orders"]
    assert "amount" in reasons["big-orders"]
    await engine.until(lambda: len(engine.of("processed", trace_id=traces[0])) == 2)


async def test_priority(shipped, teacher, engine) -> None:
    """High (three fast workers) drains while low (one slow worker) still has a backlog."""
    loaded, _ = await load_and_play(shipped["priority"], teacher, engine)
    high, low = loaded.queues["high"], loaded.queues["low"]
    await engine.until(lambda: len(set(processed_ids(engine, high))) == 12, within=20)
    assert len(set(processed_ids(engine, low))) < 12
    first = min(e["ts"] for e in engine.of("published", queue_arn=high))
    last = max(e["ts"] for e in engine.of("processed", queue_arn=high))
    assert last - first < 4.0


class Inbox(BaseHTTPRequestHandler):
    """An HTTP endpoint for SNS to deliver to, recording what arrives."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        Inbox.received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_endpoint() -> Iterator[str]:
    Inbox.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Inbox)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_push_notifications_and_a2p(shipped, teacher, engine, http_endpoint) -> None:
    """Every alert gets one copy per subscription: SMS, email and the HTTP endpoint,
    which really receives SNS's POST."""
    _, played = await load_and_play(shipped["a2p"], teacher, engine, base_url=http_endpoint)
    traces = played.sent
    assert len(traces) == 2
    await engine.until(lambda: all(len(engine.of("delivered", trace_id=t)) == 3 for t in traces))
    for trace in traces:
        cards = {(e["protocol"], e["endpoint"]) for e in engine.of("delivered", trace_id=trace)}
        assert cards == {
            ("sms", "+15555550100"),
            ("email", "student@example.com"),
            ("http", f"{http_endpoint}hooks/sns/"),
        }
    assert [r["path"] for r in Inbox.received] == ["/hooks/sns/"] * 2
    assert [r["body"]["Message"] for r in Inbox.received] == [
        "Your parcel is out for delivery.",
        "Flash sale: 20% off until noon!",
    ]
    assert {r["body"]["MessageId"] for r in Inbox.received} == set(traces)


SCENARIO_TESTS = {
    "fanout": test_fanout,
    "work-queue": test_work_queue,
    "spike": test_buffering_a_spike,
    "fifo": test_fifo_vs_standard,
    "dlq": test_dead_letter_queue,
    "filters": test_filter_policies,
    "priority": test_priority,
    "a2p": test_push_notifications_and_a2p,
    # Mobile push with phones as devices: its own module (HTTP, socket, browser).
    "push": test_push_class.test_phones_register_switch_off_and_receive,
}


@pytest.mark.django_db(transaction=False)
def test_every_shipped_scenario_has_a_test() -> None:
    assert {s["slug"] for s in scenario_files()} == set(SCENARIO_TESTS)
