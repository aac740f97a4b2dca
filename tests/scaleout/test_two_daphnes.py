"""Scale-out end to end: Redis, two Daphne processes and one ``flowwatch``.

Everything is a real process on loopback, set up as docs/scaling.md and the
Procfile say: ``redis-server`` (its own port and directory, no snapshots),
``manage.py flowwatch`` hosting the embedded moto server and the one flow
engine, and two ``manage.py serve`` processes with ``FLOWDASH_ENGINE=external``
pointed at flowwatch's moto. They share one SQLite file (``FLOWDASH_VAR_DIR``).

What it shows: a viewer on each Daphne process gets the same flow events, with
the same sequence numbers, in the same order, for messages published by boto3
(as the AWS CLI would) and consumed by workers that one Daphne process asked the
engine for; that a viewer stays connected through a quiet spell longer than
channels-redis's 5 s blocking receive (with redis-py 8 that needs the
``socket_timeout`` in the Redis URL, docs/scaling.md); and that each Daphne
process serves the static files itself.

The test fails, it does not skip, without ``redis-server``: scale-out is a
supported setup, and .ci/run installs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.live import free_port, login

ROOT = Path(__file__).resolve().parents[2]
USERNAME, PASSWORD = "instructor", "scale-out-test-password"
TOPIC, QUEUE = "lecture", "lecture-work"
MESSAGES = 12
REDIS_SOCKET_TIMEOUT = 15
#: Longer than channels-redis's 5 s blocking receive: an idle viewer must stay connected.
QUIET_SECONDS = 6.5


@dataclass
class Proc:
    """A child process whose output goes to a file we can show when something fails."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def alive(self) -> None:
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited ({self.popen.returncode}):\n{self.output()}")

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class Cluster:
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str], log_dir: Path) -> Proc:
        log = log_dir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        proc = Proc(name=name, popen=popen, log=log)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        # Daphne and flowwatch first (they hold Redis connections), Redis last.
        for proc in reversed(self.procs):
            proc.stop(signal.SIGTERM if proc.name == "redis" else signal.SIGINT)


def wait_for(what: str, check: Callable[[], bool], proc: Proc, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.alive()
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; {proc.name} said:\n{proc.output()}")


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def http_answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def cluster_up(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Redis, flowwatch and two Daphne processes; stopped (Redis last) on the way out."""
    redis_server = shutil.which(os.environ.get("FLOWDASH_REDIS_SERVER", "redis-server"))
    assert redis_server, (
        "redis-server is not installed; the scale-out setup needs it "
        "(apt-get install redis-server, as .ci/run does)"
    )
    redis_port, moto_port = free_port(), free_port()
    web_ports = [free_port(), free_port()]
    (tmp_path / "redis").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWDASH_", "DATABASE_URL"))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        PYTHONUNBUFFERED="1",
        FLOWDASH_VAR_DIR=str(tmp_path / "var"),
        # As docs/scaling.md says: redis-py 8 reads with a 5 s socket timeout, the same
        # 5 s channels-redis blocks for in BZPOPMIN; a longer one keeps idle sockets up.
        FLOWDASH_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0?socket_timeout={REDIS_SOCKET_TIMEOUT}",
        FLOWDASH_INSTRUCTOR_USERNAME=USERNAME,
        FLOWDASH_INSTRUCTOR_PASSWORD=PASSWORD,
        FLOWDASH_LOG_LEVEL="WARNING",
        # Quick watcher intervals, so a resource made with boto3 shows within a second.
        FLOWDASH_REFRESH_SECONDS="1",
        FLOWDASH_TAP_WAIT_SECONDS="1",
        FLOWDASH_DEPTH_FAST_SECONDS="0.2",
        FLOWDASH_DEPTH_SLOW_SECONDS="1",
    )
    python = sys.executable
    setup = subprocess.run(
        [python, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stdout + setup.stderr
    setup = subprocess.run(
        [python, "manage.py", "shell", "-c",
         "from dashboard.instructor import instructor_ensure; instructor_ensure()"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stdout + setup.stderr

    procs = Cluster()
    try:
        redis = procs.start(
            "redis",
            [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path / "redis")],
            env, tmp_path,
        )  # fmt: skip
        wait_for("redis PONG", lambda: redis_answers(redis_port), redis)
        watch = procs.start(
            "flowwatch",
            [python, "manage.py", "flowwatch"],
            {**env, "FLOWDASH_BACKEND": "embedded", "FLOWDASH_MOTO_PORT": str(moto_port)},
            tmp_path,
        )
        moto_url = f"http://127.0.0.1:{moto_port}"
        webs = [
            procs.start(
                f"daphne-{n}",
                [python, "manage.py", "serve", "--port", str(port)],
                {
                    **env,
                    "FLOWDASH_ENGINE": "external",
                    "FLOWDASH_BACKEND": "endpoint",
                    "FLOWDASH_AWS_ENDPOINT_URL": moto_url,
                },
                tmp_path,
            )
            for n, port in enumerate(web_ports)
        ]
        wait_for("flowwatch's engine", lambda: "engine running" in watch.output(), watch)
        for web, port in zip(webs, web_ports, strict=True):
            wait_for(
                f"{web.name}", lambda p=port: http_answers(f"http://127.0.0.1:{p}/healthz"), web
            )
        yield {"moto_url": moto_url, "bases": [f"http://127.0.0.1:{p}" for p in web_ports],
               "procs": procs}  # fmt: skip
    finally:
        procs.stop()


@dataclass
class Viewer:
    """A flow socket client that keeps the events after its snapshot, checking order."""

    ws: ClientConnection
    last_seq: int = -1
    events: list[dict[str, Any]] = field(default_factory=list)
    topology: dict[str, Any] = field(default_factory=dict)

    async def pump(self, until: Callable[[], bool], within: float = 30) -> None:
        async with asyncio.timeout(within):
            while not until():
                message = json.loads(await self.ws.recv())
                if message["type"] == "snapshot":
                    self.topology = message["topology"]
                    if self.last_seq < 0:
                        self.last_seq = message["last_seq"]
                elif message["type"] == "frame" and self.last_seq >= 0:
                    if message["to_seq"] <= self.last_seq:
                        continue
                    assert message["from_seq"] <= self.last_seq + 1, "a gap: frames were lost"
                    fresh = [e for e in message["events"] if e["seq"] > self.last_seq]
                    self.events.extend(fresh)
                    self.last_seq = message["to_seq"]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


async def viewer_connect(base: str, cookie: str) -> Viewer:
    ws = await connect(
        base.replace("http://", "ws://") + "/ws/flow/",
        origin=base,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        proxy=None,
        max_size=None,
    )
    viewer = Viewer(ws=ws)
    await viewer.pump(lambda: viewer.last_seq >= 0)
    return viewer


def test_a_viewer_on_each_daphne_sees_the_same_events_in_the_same_order(tmp_path: Path) -> None:
    with cluster_up(tmp_path) as cluster:
        viewers = same_flow_on_both(cluster["moto_url"], cluster["bases"])
    start = max(v.events[0]["seq"] for v in viewers)
    end = min(v.last_seq for v in viewers)
    a, b = ([e for e in v.events if start <= e["seq"] <= end] for v in viewers)
    assert a == b, "the two Daphne processes showed different events"
    seqs = [e["seq"] for e in a]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "events missing or out of order"
    for kind in ("published", "delivered", "received", "processed"):
        assert len([e for e in a if e["type"] == kind]) >= MESSAGES, kind


def same_flow_on_both(moto_url: str, bases: list[str]) -> list[Viewer]:
    """Make a topic and a queue with boto3, watch from both Daphne processes, ask one of
    them for workers, publish, and return both viewers once each saw every message
    processed."""
    for base in bases:
        health = httpx.get(f"{base}/healthz").json()
        assert health["backend"] == "endpoint" and health["endpoint_url"] == moto_url
        # WhiteNoise: each Daphne process serves the static files itself.
        css = httpx.get(f"{base}/static/css/flowdash.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]

    aws = {"endpoint_url": moto_url, "region_name": "us-east-1",
           "aws_access_key_id": "x", "aws_secret_access_key": "x"}  # fmt: skip
    sns, sqs = boto3.client("sns", **aws), boto3.client("sqs", **aws)
    topic = sns.create_topic(Name=TOPIC)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    browsers = [login(base, PASSWORD, username=USERNAME) for base in bases]

    async def scenario() -> list[Viewer]:
        viewers = [
            await viewer_connect(base, f"sessionid={b.cookies['sessionid']}")
            for base, b in zip(bases, browsers, strict=True)
        ]
        # The engine finds resources made outside Flowdash on its next refresh.
        for viewer in viewers:
            while queue_arn not in {q["arn"] for q in viewer.topology.get("queues", [])}:
                await viewer.ws.send(json.dumps({"type": "resync"}))
                viewer.topology = {}
                await viewer.pump(lambda v=viewer: bool(v.topology))
                await asyncio.sleep(0.3)
        # Daphne 0 asks for workers; the command reaches flowwatch through Redis.
        first = browsers[0]
        response = await asyncio.to_thread(
            first.put,
            f"/api/queues/{queue_arn}/workers",
            json={"count": 1, "min_ms": 0, "max_ms": 0},
            headers={"X-CSRFToken": first.cookies["csrftoken"]},
        )
        assert response.status_code == 200, response.text
        for viewer in viewers:
            await viewer.pump(
                lambda v=viewer: any(e["kind"] == "workers" for e in v.of("resource_changed"))
            )
        # A quiet spell longer than one blocking receive: nobody may be disconnected.
        await asyncio.sleep(QUIET_SECONDS)
        traces = [
            sns.publish(TopicArn=topic, Message=f"lecture message {n}")["MessageId"]
            for n in range(MESSAGES)
        ]
        for viewer in viewers:
            await viewer.pump(
                lambda v=viewer: {e["trace_id"] for e in v.of("processed")} >= set(traces)
            )
        # Let both catch up to the same sequence number before comparing.
        newest = max(v.last_seq for v in viewers)
        for viewer in viewers:
            await viewer.pump(lambda v=viewer: v.last_seq >= newest)
            await viewer.ws.close()
        return viewers

    try:
        return asyncio.run(scenario())
    finally:
        for browser in browsers:
            browser.close()
