"""Benchmark: what the embedded observer costs the broker, per request.

On the embedded backend, moto reports every operation of every client to the
engine (``messaging.embedded.broker`` hooks -> bounded hand-off ->
``messaging.observer`` on the engine's loop). This benchmark measures what that
adds to a client's request, in one process that holds, as ``manage.py serve``
does, the embedded moto server (fast path, fixes and filtering applied, as
``EmbeddedServer.start`` applies them), a flow engine on an asyncio loop in its
own thread, and the client:

- **on**: the engine started with the observer attached (``FlowEngine.start``
  sets ``broker.sink_set(observer.offer)``); every report is handed to the loop
  and turned into flow events, which a stand-in for the flow bus keeps (a
  bounded deque: frames and the event log are not this benchmark's business);
- **off**: the hooks installed, no sink (``sink_set(None)``): each hook still
  runs, its report goes nowhere;
- **no hooks**: moto without the broker's hooks. ``broker_revert()`` alone would
  also strip the layers applied after it wherever they wrap the same method
  (the fast path's ``Topic.publish``, the fixes' ``receive_message``, the
  filtering's ``set_subscription_attributes``), so this benchmark reverts the
  later layers, reverts the broker, and re-applies the later layers (and the
  reverse to put the hooks back). The WSGI middleware that names the client
  stays in every mode (it is installed with the server).

The client is plain boto3 over HTTP to the server's loopback port (an
"external" client, as a student's script is), one call at a time:

- Publish to a topic with one SQS subscription;
- SendMessage to a queue.

Modes run in alternating order (a rotation per round), several rounds of
``calls`` each; queues are purged between blocks (untimed), so depth stays
small. Per block: requests per second, over the block's wall time *including*
the wait until the observer has handled every report the block produced; CPU
per request of the whole process (client, server threads, engine loop) over the
same span, and of everything but the client thread. Medians over rounds.
Target: on at most 10% slower than off (requests per second).

    .venv/bin/python bench/observer_cost.py [--quick] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Table, aws_client, emit, load_1min, progress

MODES = ("on", "off", "no hooks")
OPERATIONS = ("Publish (1 SQS subscription)", "SendMessage")
TARGET = 0.10


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: int
    slices: int  #: per round and operation; each slice runs every mode once
    calls: int  #: per mode and slice


FULL = Plan(rounds=3, slices=12, calls=50)
QUICK = Plan(rounds=1, slices=6, calls=40)


# --- moto's layers: the broker's hooks in or out, the rest as EmbeddedServer.start has them


def layers(*, hooks: bool) -> None:
    """Apply the embedded layers in EmbeddedServer.start's order, with or without the
    broker's hooks; reverting first (in reverse order) so nothing is lost on the way."""
    from messaging.embedded import broker, fastpath, filtering, fixes

    filtering.filtering_revert()
    fixes.fixes_revert()
    fastpath.fastpath_revert()
    broker.broker_revert()
    if hooks:
        assert broker.broker_apply()
    assert fastpath.fastpath_apply()
    assert fixes.fixes_apply()
    assert filtering.filtering_apply()


# --- the engine on its own loop


class EngineThread:
    """A FlowEngine on an asyncio loop in a daemon thread, as the Daphne process has it."""

    def __init__(self, url: str) -> None:
        from messaging.config import BackendConfig
        from messaging.connection import Connection

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="engine")
        self.thread.start()
        self.tid = self.call(self._tid).result(10)
        self.events: deque[Any] = deque(maxlen=10_000)  # the flow bus's stand-in
        self.emitted = 0
        self.conn = Connection(BackendConfig(), endpoint_url=url)
        self.engine = self.call(self._start).result(60)
        if self.engine.observation != "inside" or self.engine.observer is None:
            raise RuntimeError(f"engine observes {self.engine.observation!r}, not inside")

    async def _tid(self) -> int:
        return threading.get_native_id()

    def loop_cpu(self) -> float:
        """CPU seconds the loop's thread has run, in nanoseconds' resolution (schedstat)."""
        return int(Path(f"/proc/self/task/{self.tid}/schedstat").read_text().split()[0]) / 1e9

    def call(self, make: Callable[[], Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(make(), self.loop)

    async def _start(self) -> Any:
        from messaging.engine import FlowEngine
        from messaging.events import FlowEmitter

        emitter = FlowEmitter()

        def keep(event: Any) -> None:
            self.events.append(event)
            self.emitted += 1

        emitter.subscribe(keep)
        engine = FlowEngine(self.conn, emitter)
        await engine.start()
        return engine

    def drained(self, *, depths: bool = False) -> bool:
        """Every report handed over so far has been handled on the loop; with ``depths``,
        the depth reads they asked for (at most DEPTH_INTERVAL later) are done too."""
        observer = self.engine.observer
        handled = not observer._buffer and not observer._scheduled
        return handled and (not depths or observer._depth_timer is None)

    def wait_drained(self, *, depths: bool = False, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.drained(depths=depths):
            if time.monotonic() > deadline:
                raise RuntimeError("the observer did not drain")
            time.sleep(0.0005)

    def knows(self, arns: list[str]) -> bool:
        index = self.engine.correlator.index
        return set(arns) <= set(index.topics) | set(index.queues)

    def stop(self) -> None:
        self.call(self.engine.stop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# --- measurement


@dataclass
class Block:
    mode: str
    operation: str
    rps: float
    cpu_ms: float  #: whole process, per request
    server_cpu_ms: float  #: everything but the client thread, per request
    loop_cpu_ms: float  #: the engine loop's thread (the observer's drain), per request
    reports: int  #: reports the observer handled during the block
    events: int  #: flow events emitted during the block


@dataclass
class Results:
    blocks: list[Block] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)  #: 1-minute load average per round

    def of(self, mode: str, operation: str) -> list[Block]:
        return [b for b in self.blocks if b.mode == mode and b.operation == operation]


def measure(plan: Plan) -> Results:
    # Queues are purged between blocks, more often than SQS's once a minute.
    os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"
    from messaging.embedded import EmbeddedServer
    from messaging.embedded.broker import broker_active, sink_set

    server = EmbeddedServer(port=0)
    url = server.start()
    if not (server.fastpath_active and broker_active()):
        raise RuntimeError("the embedded server runs without the fast path or the broker hooks")
    sns, sqs = aws_client("sns", url), aws_client("sqs", url)
    topic = sns.create_topic(Name="observer-cost")["TopicArn"]
    fanout_url = sqs.create_queue(QueueName="observer-cost-fanout")["QueueUrl"]
    fanout_arn = sqs.get_queue_attributes(QueueUrl=fanout_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=fanout_arn)
    send_url = sqs.create_queue(QueueName="observer-cost-send")["QueueUrl"]
    send_arn = sqs.get_queue_attributes(QueueUrl=send_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]

    engine = EngineThread(url)
    deadline = time.monotonic() + 30
    while not engine.knows([topic, fanout_arn, send_arn]):  # the observer told the watcher
        if time.monotonic() > deadline:
            raise RuntimeError("the engine never saw the benchmark's topic and queues")
        time.sleep(0.05)
    observer = engine.engine.observer
    assert observer is not None

    operations: dict[str, Callable[[int], Any]] = {
        OPERATIONS[0]: lambda n: sns.publish(TopicArn=topic, Message=f"cost {n} " + "x" * 150),
        OPERATIONS[1]: lambda n: sqs.send_message(QueueUrl=send_url, MessageBody=f"cost {n} "
                                                  + "y" * 150),
    }  # fmt: skip

    def mode_set(mode: str) -> None:
        if mode == "no hooks":
            sink_set(None)
            layers(hooks=False)
            return
        if not broker_active():
            layers(hooks=True)
        sink_set(observer.offer if mode == "on" else None)

    results = Results()
    # One untimed warm-up per mode and operation (imports, the first publish's key).
    for mode in MODES:
        mode_set(mode)
        for call in operations.values():
            for n in range(5):
                call(n)
    for round_ in range(plan.rounds):
        progress(f"observer_cost: round {round_ + 1} of {plan.rounds}")
        results.loads.append(load_1min())
        for op, call in operations.items():
            for slice_ in range(plan.slices):
                # Each slice runs every mode back to back, in an order that rotates.
                turn = (round_ * plan.slices + slice_) % 3
                sink_set(None)
                sqs.purge_queue(QueueUrl=fanout_url)
                sqs.purge_queue(QueueUrl=send_url)
                for mode in MODES[turn:] + MODES[:turn]:
                    mode_set(mode)
                    engine.wait_drained(depths=True)
                    handled, emitted = observer.handled, engine.emitted
                    wall, cpu = time.perf_counter(), time.process_time()
                    client = time.thread_time()  # this thread is the client
                    loop_cpu = engine.loop_cpu()
                    for n in range(plan.calls):
                        call(n)
                    engine.wait_drained()
                    wall = time.perf_counter() - wall
                    # The depth read a block asked for is its CPU, but waiting for its
                    # timer (DEPTH_INTERVAL) is not its wall time.
                    engine.wait_drained(depths=True)
                    cpu = time.process_time() - cpu
                    client = time.thread_time() - client
                    loop_cpu = engine.loop_cpu() - loop_cpu
                    results.blocks.append(
                        Block(
                            mode=mode, operation=op, rps=plan.calls / wall,
                            cpu_ms=cpu / plan.calls * 1000,
                            server_cpu_ms=max(0.0, cpu - client) / plan.calls * 1000,
                            loop_cpu_ms=loop_cpu / plan.calls * 1000,
                            reports=observer.handled - handled, events=engine.emitted - emitted,
                        )
                    )  # fmt: skip
    mode_set("on")
    engine.stop()
    server.stop()
    return results


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values * 3)
    return q1, q2, q3


def table(results: Results, plan: Plan, *, quick: bool) -> Table:
    out = Table(
        title="Observer cost: a bare boto3 client against the embedded moto, observer on / "
        "off / no hooks",
        columns=[
            "operation", "mode", "requests/s: median of slices (IQR)",
            "vs off: median of paired slices (IQR)", "vs off: all calls / all wall time",
            "CPU ms per request: process / all but the client",
            "CPU vs off: median of paired slices (process / all but the client)",
            "engine loop CPU µs per request", "reports, events per request",
            "target", "met?",
        ],
    )  # fmt: skip
    for op in OPERATIONS:
        off = results.of("off", op)
        off_total = len(off) * plan.calls / sum(plan.calls / b.rps for b in off)
        for mode in MODES:
            blocks = results.of(mode, op)
            q1, q2, q3 = quartiles([b.rps for b in blocks])
            # Paired: the same slice ran every mode back to back.
            p1, p2, p3 = quartiles([b.rps / o.rps - 1 for b, o in zip(blocks, off, strict=True)])
            total = len(blocks) * plan.calls / sum(plan.calls / b.rps for b in blocks)
            pairs = list(zip(blocks, off, strict=True))
            cpu = statistics.median(b.cpu_ms / o.cpu_ms - 1 for b, o in pairs)
            server = statistics.median(
                b.server_cpu_ms / max(o.server_cpu_ms, 1e-6) - 1 for b, o in pairs
            )
            target, verdict = "", ""
            if mode == "on":
                target = "on ≤ 10% slower than off (requests/s; CPU per request)"
                verdict = " / ".join(
                    [
                        out.target(
                            f"observer on vs off, {op}: {-p2:.1%} slower (requests/s, median "
                            f"of paired slices; IQR {-p3:.1%} to {-p1:.1%})",
                            -p2 <= TARGET,
                        ),
                        out.target(
                            f"observer on vs off, {op}: {cpu:+.1%} CPU per request "
                            f"({server:+.1%} outside the client thread)",
                            cpu <= TARGET,
                        ),
                    ]
                )
            out.row(
                op,
                mode,
                f"{q2:,.0f} ({q1:,.0f}-{q3:,.0f})",
                "-" if mode == "off" else f"{p2:+.1%} ({p1:+.1%} to {p3:+.1%})",
                "-" if mode == "off" else f"{total / off_total - 1:+.1%}",
                f"{statistics.median(b.cpu_ms for b in blocks):.2f} / "
                f"{statistics.median(b.server_cpu_ms for b in blocks):.2f}",
                "-" if mode == "off" else f"{cpu:+.1%} / {server:+.1%}",
                f"{statistics.median(b.loop_cpu_ms for b in blocks) * 1000:.0f}",
                f"{statistics.median(b.reports for b in blocks) / plan.calls:.1f}, "
                f"{statistics.median(b.events for b in blocks) / plan.calls:.1f}",
                target,
                verdict,
            )  # fmt: skip
    slices = plan.rounds * plan.slices
    out.notes = [
        f"{slices} slices of {plan.calls} calls per mode and operation"
        + (" (--quick)" if quick else "") + "; a slice runs the three modes back to back, "
        "in an order that rotates; queues purged (untimed) before each slice.",
        "One process: EmbeddedServer (fast path, fixes, filtering), a FlowEngine on its own "
        "loop thread (its events kept in a bounded deque, standing in for the flow bus), and "
        "one plain boto3 client over HTTP to the loopback port.",
        "A slice's wall time runs until the observer has handled every report of it, its "
        "CPU until the depth reads they asked for are done too. 'all but the client' = "
        "process CPU minus the client thread's (server request threads, the engine's loop).",
        "Paired slices cancel most of the noise of a shared machine; the 'all calls' column "
        "is the plain ratio of total throughputs, for comparison. Load average (1 min) at "
        "the start of each round: " + ", ".join(f"{x:.1f}" for x in results.loads) + ".",
    ]  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 slices of 40 calls (~15 s)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; --quick 1)")
    parser.add_argument("--slices", type=int, help="slices per round (default 12; --quick 6)")
    parser.add_argument("--calls", type=int, help="calls per mode and slice (default 50)")
    parser.add_argument("--record", action="store_true", help="append to bench/results/flow.md")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    plan = Plan(
        rounds=args.rounds or plan.rounds,
        slices=args.slices or plan.slices,
        calls=args.calls or plan.calls,
    )
    import logging

    logging.basicConfig(level=logging.WARNING)
    results = measure(plan)
    emit([table(results, plan, quick=args.quick)], record=args.record, header="observer_cost.py")


if __name__ == "__main__":
    main()
