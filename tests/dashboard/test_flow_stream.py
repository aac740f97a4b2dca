"""The live stream end to end: moto over HTTP, the engine, the flow bus and the
socket consumer through the real ASGI application (auth and origin checks on)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
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
from messaging.validation import MessageAttribute

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


@pytest.fixture
def live_settings(settings, moto_url: str):
    settings.FLOWDASH_BACKEND = BackendConfig(backend="endpoint", endpoint_url=moto_url)
    settings.FLOWDASH_WATCHER = {
        "refresh_seconds": 1.0, "depth_fast": 0.2, "depth_slow": 1.0, "tap_wait_seconds": 1,
    }  # fmt: skip
    return settings


@pytest.fixture
async def stream(live_settings):
    yield
    await flowbus.shutdown()
    await get_channel_layer().flush()


def session_cookie() -> bytes:
    user, _ = User.objects.get_or_create(username="viewer")
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


class FlowClient:
    """A test browser: applies the snapshot, then frames, and checks sequence numbers."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator
        self.snapshot: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []
        self.last_seq = 0
        self.gaps = 0

    async def pump(self) -> None:
        # A receive that times out cancels the application, so look before receiving.
        if await self.ws.receive_nothing(timeout=0.2, interval=0.01):
            return
        message = await self.ws.receive_json_from(timeout=5)
        if message["type"] == "snapshot":
            self.snapshot = message
            self.last_seq = message["last_seq"]
        elif message["type"] == "frame" and self.snapshot is not None:
            if message["to_seq"] <= self.last_seq:
                return
            if message["from_seq"] > self.last_seq + 1:
                self.gaps += 1
            self.events.extend(e for e in message["events"] if e["seq"] > self.last_seq)
            self.last_seq = message["to_seq"]

    async def until(self, predicate, within: float = 25.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            if loop.time() > deadline:
                seen = [(e["seq"], e["type"]) for e in self.events]
                raise AssertionError(f"timed out; saw {seen}")
            await self.pump()

    def of(self, kind: str, trace: str | None = None) -> list[dict[str, Any]]:
        return [
            e for e in self.events
            if e["type"] == kind and (trace is None or e.get("trace_id") == trace)
        ]  # fmt: skip


async def connect() -> FlowClient:
    cookie = await database_sync_to_async(session_cookie)()
    ws = WebsocketCommunicator(application, "/ws/flow/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await ws.connect(timeout=20)
    assert connected
    client = FlowClient(ws)
    await client.until(lambda: client.snapshot is not None)
    return client


async def workers_set(queue_arn: str, **spec: Any) -> None:
    await get_channel_layer().send(
        flowbus.COMMANDS, {"type": "workers.set", "queue_arn": queue_arn, "spec": spec}
    )


async def test_fanout_filter_and_consumption_reach_the_socket(stream, moto_url: str) -> None:
    conn = Connection(BackendConfig(), endpoint_url=moto_url)
    topic = resources.topic_create(conn, name="orders")
    queues = {n: resources.queue_create(conn, name=n) for n in ("billing", "shipping", "eu-only")}
    for name, queue in queues.items():
        policy = '{"region": ["eu-west-1"]}' if name == "eu-only" else None
        subscriptions.subscription_create(
            conn, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn, filter_policy=policy
        )
    client = await connect()
    assert {t["name"] for t in client.snapshot["topology"]["topics"]} == {"orders"}
    await workers_set(queues["billing"].arn, count=1, min_ms=10, max_ms=10, wait_seconds=1)
    await client.until(lambda: client.of("resource_changed"))
    trace = publishing.topic_publish(
        conn, topic_arn=topic.arn, body="order 42",
        attributes=[MessageAttribute(name="region", type="String", value="us-east-1")],
    ).message_id  # fmt: skip
    await client.until(lambda: client.of("processed", trace))
    journey = [e for e in client.events if e.get("trace_id") == trace]
    assert journey[0]["type"] == "published"
    assert sorted(e["endpoint"] for e in client.of("delivered", trace)) == sorted(
        [queues["billing"].arn, queues["shipping"].arn]
    )
    (filtered,) = client.of("filtered", trace)
    assert filtered["endpoint"] == queues["eu-only"].arn
    assert filtered["reason"] == "region: 'us-east-1' is not 'eu-west-1'"
    (received,) = client.of("received", trace)
    assert received["queue_arn"] == queues["billing"].arn and received["worker"] == "billing#1"
    seqs = [e["seq"] for e in journey]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert client.gaps == 0
    # Stored in batches: the trace API sees the same journey.
    await asyncio.sleep(1.0)
    from dashboard.selectors import trace_get

    stored = await database_sync_to_async(trace_get)(trace_id=trace)
    assert [e["seq"] for e in stored] == seqs
    await client.ws.disconnect()


async def test_poison_message_is_dead_lettered(stream, moto_url: str) -> None:
    conn = Connection(BackendConfig(), endpoint_url=moto_url)
    queue = resources.queue_create(
        conn, name="work", visibility_timeout=1, new_dead_letter_queue="work-dlq",
        max_receive_count=2,
    )  # fmt: skip
    client = await connect()
    await workers_set(queue.arn, count=1, min_ms=0, max_ms=0, wait_seconds=1)
    trace = publishing.queue_send(conn, queue_url=queue.url, body="a poison pill").message_id
    await client.until(lambda: client.of("dead_lettered", trace), within=30)
    assert [e["receive_count"] for e in client.of("failed", trace)] == [1, 2]
    (dead,) = client.of("dead_lettered", trace)
    assert dead["dead_letter_arn"] == queue.dead_letter_arn
    await client.ws.disconnect()


async def test_external_publish_and_resync(stream, moto_url: str) -> None:
    conn = Connection(BackendConfig(), endpoint_url=moto_url)
    topic = resources.topic_create(conn, name="alerts")
    first = await connect()
    message_id = conn.sns.publish(TopicArn=topic.arn, Message="from the CLI")["MessageId"]
    await first.until(lambda: first.of("published", message_id))
    assert first.of("published", message_id)[0]["source"] == "external"
    await first.ws.disconnect()

    # A reconnecting client gets a snapshot that already holds what it missed.
    second = await connect()
    assert second.snapshot["last_seq"] >= first.last_seq
    assert any(e.get("trace_id") == message_id for e in second.snapshot["recent"])
    # Asking for a resync gives a fresh snapshot on the same connection.
    before = second.snapshot
    second.snapshot = None
    await second.ws.send_json_to({"type": "resync"})
    await second.until(lambda: second.snapshot is not None)
    assert second.snapshot["last_seq"] >= before["last_seq"]
    # Malformed frames get an error frame and the connection stays up.
    await second.ws.send_to(text_data="not json")
    assert (await second.ws.receive_json_from(timeout=5))["type"] == "error"
    await second.ws.send_json_to({"type": "nonsense"})
    reply = await second.ws.receive_json_from(timeout=5)
    while reply["type"] != "error":
        reply = await second.ws.receive_json_from(timeout=5)
    await second.ws.send_json_to({"type": "resync"})
    await second.until(lambda: second.snapshot is not None)
    await second.ws.disconnect()


async def test_anonymous_and_cross_origin_sockets_are_refused(stream) -> None:
    ws = WebsocketCommunicator(application, "/ws/flow/", headers=[ORIGIN])
    connected, code = await ws.connect(timeout=10)
    assert not connected and code == 4401
    cookie = await database_sync_to_async(session_cookie)()
    evil = WebsocketCommunicator(
        application, "/ws/flow/", headers=[(b"origin", b"http://evil.example"), (b"cookie", cookie)]
    )
    connected, _ = await evil.connect(timeout=10)
    assert not connected
