"""A client that stops reading, and hostile frames, against a real Daphne.

``manage.py serve`` runs as ``make run`` starts it (tests/live.py), with the
embedded moto server on its loopback port. Bursts are plain boto3 sends to that
port, as any script would make them. Daphne (Twisted) buffers without limit what
is sent to a client that stops reading; Flowdash must close such a client
(4408, docs/protocol.md) before it costs the server more than its bound, while a
client that reads keeps its stream.

The never-reading client is a raw socket with a small receive buffer, so what the
server sends piles up on the server's side rather than in the kernel; it reads
only at the end, to see the close code.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from dashboard.consumers import TOO_SLOW
from tests.live import LiveServer, flowdash_served

PASSWORD = "slow-socket-test-password"
QUEUES = 4
#: Messages per burst, and their bodies: flow events carry the first 4 KiB of a body,
#: so each burst streams several MB to every viewer.
BURST = 3_000
BODY = "x" * 3_000
SLOW_CLIENTS = 8
MiB = 1024 * 1024
#: What a never-reading client may cost the server: the bound (plus the frame that
#: crossed it, and the allocator's rounding), and room for the noise of RSS.
PER_SLOW_CLIENT = 2 * MiB
RSS_NOISE = 12 * MiB


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Without the embedded backend's state file: its writer serialises the whole broker
    # every few seconds (tens of MB at a time, freed again), noise that would drown
    # what is measured here.
    with flowdash_served(
        tmp_path_factory.mktemp("var"),
        password=PASSWORD,
        FLOWDASH_PERSIST="0",
        FLOWDASH_OBSERVER="inside",  # other programs' traffic is seen at once
    ) as server:
        yield server


def login(server: LiveServer) -> str:
    """The session cookie of the instructor, logged in through the form."""
    with httpx.Client(base_url=server.base, timeout=20) as browser:
        browser.get("/login/")
        response = browser.post(
            "/login/",
            data={"username": "instructor", "password": PASSWORD,
                  "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            headers={"Referer": f"{server.base}/login/"},
        )  # fmt: skip
        assert response.status_code == 302, response.text
        return f"sessionid={browser.cookies['sessionid']}"


def serve_pid(server: LiveServer) -> int:
    """The pid of the ``manage.py serve`` process behind ``server`` (a child of ours)."""
    port = urlsplit(server.base).port
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for pid in (task / "children").read_text().split():
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if f"FLOWDASH_PORT={port}".encode() in environ:
                return int(pid)
    raise AssertionError("the serve process is not a child of this one")


def rss(pid: int) -> int:
    """Resident set size in bytes, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class RssSampler:
    """The peak RSS of a process while the ``with`` block runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = self.peak = rss(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss(self.pid))

    @property
    def growth(self) -> int:
        return self.peak - self.start


class RawClient:
    """A websocket client that does not read until told to."""

    def __init__(self, server: LiveServer, cookie: str) -> None:
        url = urlsplit(server.base)
        self.sock = socket.socket()
        # Small, so the kernel absorbs little and the backlog stays on the server's side.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((url.hostname, url.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws/flow/ HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: {server.base}\r\nCookie: {cookie}\r\n\r\n"
            ).encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: frames follow at once
            head += self._exact(1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed without a close frame")
            data += chunk
        return data

    def read_until_close(self) -> tuple[int, int | None]:
        """Read everything the server had sent; returns (frames read, close code)."""
        frames = 0
        while True:
            first, second = self._exact(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._exact(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._exact(8))
            payload = self._exact(length)
            if first & 0x0F == 0x8:  # close
                return frames, struct.unpack("!H", payload[:2])[0] if payload else None
            frames += 1

    def close(self) -> None:
        self.sock.close()


@dataclass
class Viewer:
    """A client that reads everything, on its own thread, checking sequence numbers."""

    ws: ClientConnection
    last_seq: int = -1
    gaps: int = 0
    received_bytes: int = 0
    traces: set[str] = field(default_factory=set)
    closed: ConnectionClosed | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Viewer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for text in self.ws:
                self.received_bytes += len(text)
                message = json.loads(text)
                if message["type"] == "snapshot":
                    self.last_seq = max(self.last_seq, message["last_seq"])
                elif message["type"] == "frame" and self.last_seq >= 0:
                    if message["to_seq"] <= self.last_seq:
                        continue
                    if message["from_seq"] > self.last_seq + 1:
                        self.gaps += 1
                    self.last_seq = message["to_seq"]
                    self.traces.update(e["trace_id"] for e in message["events"] if "trace_id" in e)
        except ConnectionClosed as exc:
            self.closed = exc

    def wait_for(self, trace: str, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while trace not in self.traces:
            assert self.closed is None, f"the reading viewer was closed: {self.closed}"
            assert time.monotonic() < deadline, "the reading viewer never saw the message"
            time.sleep(0.05)


def ws_connect(server: LiveServer, cookie: str) -> ClientConnection:
    return connect(
        server.base.replace("http://", "ws://") + "/ws/flow/",
        origin=server.base,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        proxy=None,
        max_size=None,
        compression=None,
    )


def burst(sqs: Any, urls: list[str], count: int) -> None:
    """``count`` messages, spread over the queues, in batches of 10."""
    for start in range(0, count, 10):
        url = urls[(start // 10) % len(urls)]
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "MessageBody": f"{start + n} {BODY}"} for n in range(10)],
        )


def slow_closed(server: LiveServer) -> int:
    return httpx.get(f"{server.base}/healthz", timeout=10).json()["engine"]["slow_sockets_closed"]


def test_a_client_that_stops_reading_is_closed_and_memory_stays_flat(served: LiveServer) -> None:
    cookie = login(served)
    pid = serve_pid(served)
    sqs = boto3.client(
        "sqs", endpoint_url=served.moto, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip
    urls = [sqs.create_queue(QueueName=f"burst-{n}")["QueueUrl"] for n in range(QUEUES)]
    with ws_connect(served, cookie) as ws:
        viewer = Viewer(ws).start()
        marker = sqs.send_message(QueueUrl=urls[0], MessageBody="warm-up")["MessageId"]
        viewer.wait_for(marker)

        burst(sqs, urls, BURST)  # warm-up: first-time allocations
        # The same burst twice more: first with only the reading viewer (what the burst
        # itself costs: moto keeps every message), then with clients that never read.
        streamed_before = viewer.received_bytes
        with RssSampler(pid) as alone:
            burst(sqs, urls, BURST)
        streamed_alone = viewer.received_bytes - streamed_before
        closed_before = slow_closed(served)
        slow = [RawClient(served, cookie) for _ in range(SLOW_CLIENTS)]
        try:
            before = viewer.received_bytes
            with RssSampler(pid) as crowded:
                burst(sqs, urls, BURST)
                deadline = time.monotonic() + 20
                while slow_closed(served) - closed_before < SLOW_CLIENTS:
                    assert time.monotonic() < deadline, (
                        f"only {slow_closed(served) - closed_before} of {SLOW_CLIENTS} slow "
                        f"clients were closed:\n{served.log_tail()}"
                    )
                    time.sleep(0.1)
            stream = viewer.received_bytes - before
            # Each slow client sees what was buffered for it, then the close: 4408.
            outcomes = [client.read_until_close() for client in slow]
        finally:
            for client in slow:
                client.close()
        print(
            f"\nstream per viewer during the burst: {stream / MiB:.1f} MiB "
            f"(without slow clients {streamed_alone / MiB:.1f} MiB); "
            f"RSS growth, burst alone: {alone.growth / MiB:.1f} MiB "
            f"({alone.start / MiB:.0f} -> {alone.peak / MiB:.0f}); "
            f"with {SLOW_CLIENTS} never-reading clients: {crowded.growth / MiB:.1f} MiB "
            f"({crowded.start / MiB:.0f} -> {crowded.peak / MiB:.0f}); "
            f"frames each slow client got before its close: {[n for n, _ in outcomes]}"
        )
        assert [code for _, code in outcomes] == [TOO_SLOW] * SLOW_CLIENTS
        # Unbounded, each would have held most of the stream: that must be far above the bound.
        assert PER_SLOW_CLIENT >= settings.FLOWDASH_SOCKET_MAX_BACKLOG_BYTES
        allowance = SLOW_CLIENTS * PER_SLOW_CLIENT + RSS_NOISE
        assert SLOW_CLIENTS * stream > 2 * allowance, "the burst is too small to show anything"
        assert crowded.growth <= alone.growth + allowance, (
            f"RSS grew {crowded.growth / MiB:.1f} MiB with slow clients, "
            f"{alone.growth / MiB:.1f} MiB without"
        )
        # The reading viewer kept its stream throughout: no gap, not closed, still live.
        marker = sqs.send_message(QueueUrl=urls[0], MessageBody="after the burst")["MessageId"]
        viewer.wait_for(marker)
        assert viewer.gaps == 0 and viewer.closed is None


def test_hostile_frames_get_an_error_reply_or_a_documented_close(served: LiveServer) -> None:
    cookie = login(served)
    with ws_connect(served, cookie) as ws:

        def reply_to(text: str) -> dict[str, Any]:
            ws.send(text)
            while True:
                message = json.loads(ws.recv(timeout=10))
                if message["type"] not in ("frame", "snapshot"):
                    return message

        # 100,000 levels deep (200 KB): over the size a request may have.
        deep = "[" * 100_000 + "]" * 100_000
        assert reply_to(deep) == {
            "type": "error", "message": "Frames must be at most 65536 characters."
        }  # fmt: skip
        # 5,000 deep fits the size, and json.loads raises RecursionError: still a reply.
        assert reply_to("[" * 5_000 + "]" * 5_000) == {
            "type": "error", "message": "Frames must be JSON."
        }  # fmt: skip
        assert reply_to('{"type": "nonsense"}')["type"] == "error"
        # The connection is still good: a resync brings a snapshot.
        ws.send('{"type": "resync"}')
        while json.loads(ws.recv(timeout=10))["type"] != "snapshot":
            pass
        # Over Daphne's 1 MiB message limit: closed with 1009 (message too big), not dropped.
        ws.send("x" * (2 * MiB))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
