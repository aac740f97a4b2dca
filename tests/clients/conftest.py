"""A real Flowdash per test module, and a flow socket that keeps every frame.

``served`` is ``manage.py serve`` (Daphne plus the embedded moto) on free ports,
as ``make run`` starts it. ``FlowWatch`` logs in through the form, opens
``/ws/flow/`` in a background thread before the test makes anything, and keeps
every frame after its snapshot with the moment it arrived, so a test can count
everything that happened (``counts`` covers every event, even in a sampled frame)
and measure how soon something appeared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from websockets.asyncio.client import ClientConnection, connect

from tests.live import LiveServer, flowdash_served, login

PASSWORD = "outside-" + secrets.token_urlsafe(9)
REGION = "us-east-1"
ACCOUNT = "123456789012"
#: How long a test waits for something that should happen (generous: a slow CI).
PATIENCE = 30.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    var = tmp_path_factory.mktemp("outside-var")
    # These tests are about the embedded observer: "inside" whatever the caller's environment.
    with flowdash_served(
        var, password=PASSWORD, FLOWDASH_LOG_LEVEL="WARNING", FLOWDASH_OBSERVER="inside"
    ) as live:
        health = httpx.get(f"{live.base}/healthz", timeout=10).json()
        assert health["backend"] == "embedded", health
        assert health["observer"] == "inside", health
        yield live


@pytest.fixture
def browser(served: LiveServer) -> Iterator[httpx.Client]:
    client = login(served.base, PASSWORD)
    yield client
    client.close()


@pytest.fixture
def watch(served: LiveServer, browser: httpx.Client) -> Iterator[FlowWatch]:
    flow = FlowWatch(served.base, f"sessionid={browser.cookies['sessionid']}")
    flow.start()
    try:
        yield flow
    finally:
        flow.close()
    assert flow.gaps == [], f"frames were lost: {flow.gaps}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


#: No retries: a retried call could make the broker act twice, which is not the observer's doing.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def boto3_clients(served: LiveServer) -> tuple[Any, Any]:
    """Plain boto3 SNS and SQS clients (user agent ``Boto3/...``, not Flowdash's)."""
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    )
    return (
        session.client("sns", endpoint_url=served.moto, config=NO_RETRIES),
        session.client("sqs", endpoint_url=served.moto, config=NO_RETRIES),
    )


def outside_env(**extra: str) -> dict[str, str]:
    """The environment of an outside client: dummy credentials, one region, no proxy for
    loopback, and none of the caller's own AWS settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLOWDASH_"))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


class FlowWatch:
    """A viewer of ``/ws/flow/`` on its own thread and event loop.

    Applies the snapshot and then every frame as docs/protocol.md says (buffer
    frames until the snapshot, drop what the snapshot already had; on
    ``resource_changed`` ask for a fresh snapshot, as the page does), records gaps,
    notes when each ARN first showed in a snapshot's topology (``in_topology``),
    and stamps each event with the moment its frame arrived: ``_at`` (``time.monotonic()``)
    and ``_wall`` (``time.time()``, to compare with times taken in other processes).
    """

    def __init__(self, base: str, cookie: str) -> None:
        self.base = base
        self.cookie = cookie
        self.snapshot: dict[str, Any] | None = None
        #: The newest snapshot (the first one is ``snapshot``; later ones answer ``resync``).
        self.latest: dict[str, Any] | None = None
        self.last_seq = -1
        self.events: list[dict[str, Any]] = []
        #: Every frame's counts added up: ``{"<type>|<resource arn>": n}``.
        self.counts: Counter[str] = Counter()
        self.frames = 0
        self.sampled_frames = 0
        self.snapshots = 0
        self.gaps: list[tuple[int, int]] = []
        #: ARN -> ``time.monotonic()`` of the first snapshot whose topology had it.
        self.topology_seen: dict[str, float] = {}
        self.failure: BaseException | None = None
        self._buffered: list[tuple[dict[str, Any], tuple[float, float]]] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._main, name="flow-watch", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: ClientConnection | None = None
        self._closing = False

    # --- the test's side

    def start(self) -> None:
        self._thread.start()
        self.wait(lambda: self.snapshot is not None, "the first snapshot", timeout=PATIENCE)

    def close(self) -> None:
        self._closing = True
        loop, ws = self._loop, self._ws
        if loop is not None and ws is not None and not loop.is_closed():
            with contextlib.suppress(Exception):  # already closed, or the loop ended
                asyncio.run_coroutine_threadsafe(ws.close(), loop).result(timeout=10)
        self._thread.join(timeout=10)

    def resync(self) -> dict[str, Any]:
        """Ask for a fresh snapshot (as a browser does on ``resource_changed``) and return it."""
        assert self._loop is not None and self._ws is not None
        with self._cond:
            before = self.snapshots
        send = self._ws.send(json.dumps({"type": "resync"}))
        asyncio.run_coroutine_threadsafe(send, self._loop).result(timeout=10)
        self.wait(lambda: self.snapshots > before, "a fresh snapshot")
        assert self.latest is not None
        return self.latest

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = PATIENCE) -> None:
        """Wait until ``predicate()`` holds (checked under the lock, after each frame)."""
        with self._cond:
            done = self._cond.wait_for(lambda: predicate() or self.failure is not None, timeout)
            if self.failure is not None:
                raise AssertionError(f"the flow socket failed: {self.failure!r}")
            if not done:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; "
                                     f"{self.summary()}")  # fmt: skip

    def of(self, event_type: str, /, **fields: Any) -> list[dict[str, Any]]:
        with self._cond:
            return [
                e for e in self.events
                if e["type"] == event_type and all(e.get(k) == v for k, v in fields.items())
            ]  # fmt: skip

    def count(self, event_type: str, resource: str) -> int:
        with self._cond:
            return self.counts[f"{event_type}|{resource}"]

    def arrival(self, event_type: str, /, **fields: Any) -> float:
        """When the first matching event reached the socket (waits for it)."""
        self.wait(lambda: bool(self.of(event_type, **fields)), f"{event_type} {fields}")
        return self.of(event_type, **fields)[0]["_at"]

    def troubles(self) -> list[dict[str, Any]]:
        """Events none of these scenarios should cause: errors, lapses, filtering, DLQ moves."""
        kinds = {
            "error",
            "visibility_lapsed",
            "filtered",
            "dead_lettered",
            "deduplicated",
            "expired",
        }
        with self._cond:
            return [e for e in self.events if e["type"] in kinds]

    def in_topology(self, arn: str) -> float:
        """When a snapshot first showed ``arn`` in its topology (waits for it)."""
        self.wait(lambda: arn in self.topology_seen, f"{arn} in a snapshot's topology")
        with self._cond:
            return self.topology_seen[arn]

    def summary(self) -> str:
        mine = {k: v for k, v in sorted(self.counts.items()) if not k.startswith("depth|")}
        return (
            f"{self.frames} frames ({self.sampled_frames} sampled), {self.snapshots} snapshots, "
            f"{len(self.events)} events kept, gaps {self.gaps}, counts {mine}"
        )

    # --- the socket's side

    def _main(self) -> None:
        try:
            asyncio.run(self._read())
        except BaseException as exc:  # reported to the waiting test
            if not self._closing:
                with self._cond:
                    self.failure = exc
                    self._cond.notify_all()

    async def _read(self) -> None:
        self._loop = asyncio.get_running_loop()
        async with connect(
            self.base.replace("http://", "ws://") + "/ws/flow/",
            origin=self.base,  # type: ignore[arg-type]
            additional_headers={"Cookie": self.cookie},
            proxy=None,
            max_size=None,
        ) as ws:
            self._ws = ws
            async for raw in ws:
                message = json.loads(raw)
                self._take(message, (time.monotonic(), time.time()))
                changed = message["type"] == "frame" and any(
                    e["type"] == "resource_changed" for e in message["events"]
                )
                if changed:  # docs/protocol.md, client rule 4
                    await ws.send(json.dumps({"type": "resync"}))

    def _take(self, message: dict[str, Any], at: tuple[float, float]) -> None:
        with self._cond:
            if message["type"] == "snapshot":
                self.snapshots += 1
                self.latest = message
                for items in message["topology"].values():
                    for item in items:
                        self.topology_seen.setdefault(item["arn"], at[0])
                if self.snapshot is None:
                    self.snapshot = message
                    self.last_seq = message["last_seq"]
                    for frame, when in self._buffered:
                        self._apply(frame, when)
                    self._buffered.clear()
            elif message["type"] == "frame":
                if self.snapshot is None:
                    self._buffered.append((message, at))
                else:
                    self._apply(message, at)
            self._cond.notify_all()

    def _apply(self, frame: dict[str, Any], at: tuple[float, float]) -> None:
        self.frames += 1
        if frame["to_seq"] <= self.last_seq:
            return
        if frame["from_seq"] > self.last_seq + 1:
            self.gaps.append((self.last_seq, frame["from_seq"]))
        self.sampled_frames += bool(frame["sampled"])
        self.counts.update(frame["counts"])
        fresh = (e for e in frame["events"] if e["seq"] > self.last_seq)
        self.events.extend({**e, "_at": at[0], "_wall": at[1]} for e in fresh)
        self.last_seq = frame["to_seq"]


def wait_for(check: Callable[[], bool], what: str, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def trace_journey(browser: httpx.Client, trace_id: str) -> list[dict[str, Any]]:
    """``GET /api/traces/<id>`` once the flow bus has saved the events (it batches)."""
    response: httpx.Response | None = None

    def saved() -> bool:
        nonlocal response
        response = browser.get(f"/api/traces/{trace_id}")
        return response.status_code == 200

    try:
        wait_for(saved, f"trace {trace_id} to be saved", timeout=10)
    except AssertionError as timeout:
        assert response is not None
        raise AssertionError(
            f"/api/traces/{trace_id}: {response.status_code} {response.text}"
        ) from timeout
    assert response is not None
    return response.json()["events"]
