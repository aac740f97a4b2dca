"""Supervision of the engine's loops, failed starts, and in-process notifies.

Faults are injected for real: a method of a real engine object raises once (the
rest of the engine is untouched), or the backend is a port nobody listens on.
What is checked is recovery (the loop runs again and events flow), what viewers
and ``/healthz`` are told, and that no task outlives a stop or a failed start.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import replace
from typing import Any

import boto3
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from dashboard import flowbus
from dashboard.asgi import application
from messaging import publishing, resources, subscriptions
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.engine import FlowEngine
from messaging.events import FlowEmitter, FlowEvent
from messaging.supervisor import RESTARTING, RUNNING, STOPPED, Supervisor
from messaging.workers import WorkerSpec
from tests.live import free_port

FAST = {"refresh_seconds": 1.0, "depth_fast": 0.2, "depth_slow": 1.0, "tap_wait_seconds": 1}
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


class Recorder:
    def __init__(self, emitter: FlowEmitter) -> None:
        self.events: list[FlowEvent] = []
        emitter.subscribe(self.events.append)

    def of(self, kind: str, trace: str | None = None) -> list[Any]:
        return [
            e for e in self.events
            if getattr(e, "type", None) == kind and (trace is None or e.trace == trace)
        ]  # fmt: skip

    def errors(self, source: str) -> list[Any]:
        return [e for e in self.of("error") if e.source == source]

    async def wait_for(self, predicate, within: float = 20.0) -> None:
        await until(
            predicate, within, lambda: [(e.seq, getattr(e, "type", "?")) for e in self.events]
        )


async def until(predicate, within: float = 20.0, seen=lambda: None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out; {seen()}")
        await asyncio.sleep(0.05)


def fail_once(target: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the async method ``name`` of the real object ``target`` raise on its next call
    only; returns a list holding the number of calls so far."""
    original = getattr(target, name)
    calls = [0]

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError(f"injected fault in {name}")
        return await original(*args, **kwargs)

    monkeypatch.setattr(target, name, failing_once)
    return calls


def others(before: set[asyncio.Task[Any]]) -> list[str]:
    """Tasks running now that were not before (by name)."""
    return sorted(t.get_name() for t in asyncio.all_tasks() - before if not t.done())


# --- the engine's loops (messaging only) -----------------------------------------------


async def test_a_worker_that_raises_is_restarted_and_viewers_are_told(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = asyncio.all_tasks()
    queue = resources.queue_create(conn, name="jobs")
    emitter = FlowEmitter()
    rec = Recorder(emitter)
    engine = FlowEngine(conn, emitter, watcher_options=FAST)
    try:
        await engine.start()
        calls = fail_once(engine.workers, "_batch", monkeypatch)
        engine.workers_set(queue.arn, WorkerSpec(count=1, min_ms=0, max_ms=0, wait_seconds=1))
        await rec.wait_for(lambda: rec.errors("worker"))
        (error,) = rec.errors("worker")
        assert error.code == "RuntimeError" and error.resource == queue.arn
        assert "injected fault in _batch" in error.message and "restarting in" in error.message
        # The same worker runs again and messages flow through it.
        trace = publishing.queue_send(conn, queue_url=queue.url, body="after the fault").message_id
        await rec.wait_for(lambda: rec.of("processed", trace))
        assert rec.of("processed", trace)[0].worker == "jobs#1"
        assert calls[0] >= 2
        status = engine.supervisor.status()["worker jobs#1"]
        assert status["state"] == RUNNING and status["restarts"] == 1
        assert "RuntimeError: injected fault" in status["last_error"]
        assert not engine.supervisor.degraded
    finally:
        await engine.stop()
    assert others(before) == []
    assert all(s["state"] == STOPPED for s in engine.supervisor.status().values())


async def test_the_watcher_restarts_without_disturbing_its_taps(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside (taps and samples): a failed watcher is restarted; its tap and depth loops
    keep running (once each), and publications are still seen."""
    before = asyncio.all_tasks()
    outside = Connection(replace(conn.config, observer="outside"), endpoint_url=conn.endpoint_url)
    topic = resources.topic_create(conn, name="alerts")
    queue = resources.queue_create(conn, name="alerts-q")
    subscriptions.subscription_create(conn, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn)
    emitter = FlowEmitter()
    rec = Recorder(emitter)
    engine = FlowEngine(outside, emitter, watcher_options=FAST)
    assert engine.observation == "outside"
    try:
        await engine.start()
        children = {**engine.watcher._taps, **engine.watcher._samplers}
        generation = engine.watcher.generation
        fail_once(engine.watcher, "refresh", monkeypatch)
        engine.refresh_soon()
        await rec.wait_for(lambda: rec.errors("watcher"))
        # It reads the topology again, and leaves the tap and the sampler running.
        await until(lambda: engine.watcher.generation > generation)
        assert {**engine.watcher._taps, **engine.watcher._samplers} == children
        assert not any(task.done() for task in children.values())
        loops = engine.supervisor.status()
        assert loops["watcher"]["state"] == RUNNING
        assert loops["watcher"]["restarts"] == 1
        assert [k for k in loops if k.startswith("tap ")] == [f"tap {topic.arn}"]
        assert [k for k in loops if k.startswith("depth ")] == [f"depth {queue.arn}"]
        running = others(before)
        assert running.count(f"tap {topic.arn}") == 1, running
        assert running.count(f"depth {queue.arn}") == 1, running
        # Publications are seen again, through the restarted tap.
        sns = boto3.client(
            "sns", endpoint_url=conn.endpoint_url, region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="x",
        )  # fmt: skip
        message_id = sns.publish(TopicArn=topic.arn, Message="after the fault")["MessageId"]
        await rec.wait_for(lambda: rec.of("published", message_id))
    finally:
        await engine.stop()
    assert others(before) == []


async def test_stop_cancels_a_background_delete_still_running(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker does not wait for its batch's delete; stopping must not leave it behind."""
    before = asyncio.all_tasks()
    queue = resources.queue_create(conn, name="slow-deletes")
    engine = FlowEngine(conn, FlowEmitter(), watcher_options=FAST)
    hung = asyncio.Event()

    async def delete_hangs(*args: Any, **kwargs: Any) -> int:
        hung.set()
        await asyncio.Event().wait()  # a DeleteMessageBatch that never answers
        return 0

    try:
        await engine.start()
        monkeypatch.setattr(engine.workers, "_delete", delete_hangs)
        engine.workers_set(queue.arn, WorkerSpec(count=1, min_ms=0, max_ms=0, wait_seconds=1))
        publishing.queue_send(conn, queue_url=queue.url, body="processed, never deleted")
        await asyncio.wait_for(hung.wait(), 20)
        assert "delete slow-deletes#1" in others(before)
        await engine.workers.stop_all()
        assert "delete slow-deletes#1" not in others(before)
    finally:
        await engine.stop()
    assert others(before) == []


async def test_the_supervisor_backs_off_reports_and_stops_everything() -> None:
    """The supervisor alone: restart delays double, one-off failures are reported,
    and stop cancels loops, spawned and background tasks alike."""
    before = asyncio.all_tasks()
    supervisor = Supervisor(backoff_first=0.05)
    failures: list[Any] = []
    supervisor.on_failure(failures.append)
    runs: list[float] = []
    loop = asyncio.get_running_loop()

    async def flaky() -> None:
        runs.append(loop.time())
        if len(runs) <= 3:
            raise RuntimeError(f"run {len(runs)}")
        await asyncio.Event().wait()

    async def broken() -> None:
        raise ValueError("a one-off task failed")

    supervisor.loop("flaky", flaky)
    supervisor.spawn(asyncio.Event().wait(), name="awaited by nobody")
    supervisor.background(broken(), name="burst", resource="arn:q")
    await until(lambda: len(runs) == 4, within=5)
    assert [f.retry_in for f in failures if f.name == "flaky"] == [0.05, 0.1, 0.2]
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2
    (one_off,) = [f for f in failures if f.name == "burst"]
    assert one_off.retry_in is None and one_off.resource == "arn:q"
    assert supervisor.status()["flaky"]["restarts"] == 3
    assert supervisor.status()["flaky"]["state"] == RUNNING
    await supervisor.stop()
    assert supervisor.status()["flaky"]["state"] == STOPPED
    assert supervisor.tasks == frozenset() and others(before) == []


async def test_a_loop_waiting_to_restart_shows_as_restarting() -> None:
    supervisor = Supervisor(backoff_first=5.0)

    async def fails() -> None:
        raise RuntimeError("down")

    supervisor.loop("fails", fails)
    await until(lambda: supervisor.status()["fails"]["state"] == RESTARTING, within=2)
    assert supervisor.degraded
    await supervisor.stop()


# --- the flow bus in Django: frames, failed starts, healthz, notifies -------------------


@pytest.fixture
def live_settings(settings, moto_url: str):
    settings.FLOWDASH_BACKEND = BackendConfig(backend="endpoint", endpoint_url=moto_url)
    settings.FLOWDASH_WATCHER = FAST
    settings.FLOWDASH_ENGINE = "inprocess"
    return settings


@pytest.fixture
async def bus_cleanup(live_settings):
    yield
    await flowbus.shutdown()
    await get_channel_layer().flush()


async def frames_until(channel: str, predicate, within: float = 20.0) -> list[dict[str, Any]]:
    """Frames the ``flow`` group sent to ``channel``, until one has an event that matches."""
    import json

    layer = get_channel_layer()
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while not any(predicate(e) for e in events):
            message = await layer.receive(channel)
            if message["type"] == "flow.frame":
                events.extend(json.loads(message["text"])["events"])
    return events


def healthz() -> dict[str, Any]:
    return Client().get("/healthz").json()


@pytest.mark.django_db(transaction=True)
async def test_the_frame_loop_restarts_after_a_failed_send(
    bus_cleanup, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = Connection(BackendConfig(), endpoint_url=moto_url)
    bus = await flowbus.ensure_running()
    assert bus is not None
    layer = get_channel_layer()
    viewer = await layer.new_channel()
    await layer.group_add(flowbus.GROUP, viewer)
    fail_once(bus.layer, "group_send", monkeypatch)
    first = resources.queue_create(conn, name="first")
    await sync_to_async(flowbus.command_send)("topology.changed")
    events = await frames_until(viewer, lambda e: e["type"] == "error")
    (error,) = [e for e in events if e["type"] == "error"]
    assert error["source"] == "flowbus.frames" and error["code"] == "RuntimeError"
    # The frame that failed is lost (viewers see a gap and resync); later ones flow.
    second = resources.queue_create(conn, name="second")
    await sync_to_async(flowbus.command_send)("topology.changed")
    await frames_until(viewer, lambda e: e.get("arn") == second.arn)
    assert first.arn in {q["arn"] for q in bus.snapshot()["topology"]["queues"]}
    health = await sync_to_async(healthz)()
    frames = health["engine"]["loops"]["flowbus.frames"]
    assert frames["state"] == RUNNING and frames["restarts"] == 1
    assert health["engine"]["state"] == "running"
    assert {"watcher", "flowbus.persist", "flowbus.commands"} <= set(health["engine"]["loops"])


@pytest.mark.django_db(transaction=True)
async def test_a_failed_start_leaves_nothing_behind_and_the_next_one_starts_clean(
    bus_cleanup, live_settings, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flowbus, "START_WITHIN", 1.0)
    monkeypatch.setattr(flowbus, "START_RETRY_SECONDS", 0.0)
    live_settings.FLOWDASH_BACKEND = BackendConfig(
        backend="endpoint",
        endpoint_url=f"http://127.0.0.1:{free_port()}",  # nobody listens
    )
    layer = get_channel_layer()
    before = asyncio.all_tasks()
    for _ in range(2):
        with pytest.raises(flowbus.EngineUnavailable, match="did not answer in time"):
            await flowbus.ensure_running()
        assert others(before) == []
    health = await sync_to_async(healthz)()
    assert health["engine"]["state"] == "failed"
    # Nobody is left reading the engine's command channel: a command waits there.
    await layer.send(flowbus.COMMANDS, {"type": "topology.changed"})
    await asyncio.sleep(0.2)
    assert (await asyncio.wait_for(layer.receive(flowbus.COMMANDS), 1))["type"] == (
        "topology.changed"
    )

    # Within the retry interval a start is refused at once, not tried again.
    monkeypatch.setattr(flowbus, "START_RETRY_SECONDS", 60.0)
    started = time.monotonic()
    with pytest.raises(flowbus.EngineUnavailable):
        await flowbus.ensure_running()
    assert time.monotonic() - started < 0.1 and others(before) == []

    # The backend is back: the next attempt starts one engine from scratch.
    monkeypatch.setattr(flowbus, "START_RETRY_SECONDS", 0.0)
    live_settings.FLOWDASH_BACKEND = BackendConfig(backend="endpoint", endpoint_url=moto_url)
    bus = await flowbus.ensure_running()
    assert bus is not None and await flowbus.ensure_running() is bus
    running = others(before)
    for name in ("watcher", "flowbus.frames", "flowbus.persist", "flowbus.commands"):
        assert running.count(name) == 1, running
    reply = await layer.new_channel()
    await layer.send(flowbus.COMMANDS, {"type": "snapshot.request", "reply_to": reply})
    assert (await asyncio.wait_for(layer.receive(reply), 5))["type"] == "flow.snapshot"
    assert (await sync_to_async(healthz)())["engine"]["state"] == "running"
    await flowbus.shutdown()
    assert others(before) == []


def session_cookie() -> bytes:
    user, _ = User.objects.get_or_create(username="viewer")
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.mark.django_db(transaction=True)
async def test_a_viewer_is_told_when_the_engine_cannot_start(
    bus_cleanup, live_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flowbus, "START_WITHIN", 1.0)
    live_settings.FLOWDASH_BACKEND = BackendConfig(
        backend="endpoint", endpoint_url=f"http://127.0.0.1:{free_port()}"
    )
    cookie = await database_sync_to_async(session_cookie)()
    ws = WebsocketCommunicator(application, "/ws/flow/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await ws.connect(timeout=10)
    assert connected
    frames = []
    reply = await ws.receive_json_from(timeout=10)
    while reply["type"] == "frame":  # what the attempt saw, as it happened
        frames.append(reply)
        reply = await ws.receive_json_from(timeout=10)
    assert reply["type"] == "error" and "not running" in reply["message"]
    shown = [e for f in frames for e in f["events"] if e["type"] == "error"]
    assert all(e["source"] == "watcher" for e in shown)
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4503}  # try again later
    await ws.wait()


@pytest.mark.django_db(transaction=True)
async def test_a_notify_from_a_thread_reaches_an_idle_engine_within_100_ms(
    bus_cleanup, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = await flowbus.ensure_running()
    assert bus is not None and bus.engine is not None
    arrived = threading.Event()
    original = bus.engine.refresh_soon

    def refresh_soon() -> None:
        arrived.set()
        original()

    monkeypatch.setattr(bus.engine, "refresh_soon", refresh_soon)
    await asyncio.sleep(0.5)  # let the start's own work settle: the loop is idle

    def notify_from_a_thread() -> float:
        started = time.monotonic()
        flowbus.command_send("topology.changed")  # as a burst's thread does
        assert arrived.wait(5), "the notify never arrived"
        return time.monotonic() - started

    delays = []
    for _ in range(5):
        arrived.clear()
        # The loop waits for the thread only: nothing else wakes it meanwhile.
        delays.append(await asyncio.to_thread(notify_from_a_thread))
        await asyncio.sleep(0.3)
    assert max(delays) < 0.1, delays


async def test_with_an_external_engine_notifies_go_through_the_channel_layer(
    live_settings,
) -> None:
    live_settings.FLOWDASH_ENGINE = "external"
    layer = get_channel_layer()
    await layer.flush()
    assert await flowbus.ensure_running() is None
    await asyncio.to_thread(flowbus.command_send, "topology.changed")
    message = await asyncio.wait_for(layer.receive(flowbus.COMMANDS), 5)
    assert message == {"type": "topology.changed"}
    assert (await sync_to_async(healthz)())["engine"]["state"] == "external"
    await layer.flush()
