"""Benchmark 3, viewers: a lecture hall of websocket clients during a 1,000-message burst.

For 1, 50 and 200 concurrent viewers, a fresh ``manage.py serve`` (default
settings: in-memory channel layer, one process) gets a topic with three
subscribed queues and one 0 ms worker each, the viewers connect to
``/ws/flow/`` (logged in, with the page's Origin), and an instructor starts a
burst of 1,000 messages at the maximum rate through the API. Measured until the
burst is over (every PublishBatch sent, every queue emptied by its worker), the
engine's sequence number stopped moving, and every viewer holds that number (or
20 s more passed):

- frames per viewer, and gaps: a gap is a frame the server dropped because the
  viewer's channel was full; the viewer then asks for a resync, as the page does;
- coalescing: what share of the events went out in detail, the rest only as
  counts (frames above 200 events carry a sample of whole journeys);
- server CPU (share of one core over the burst) and memory (RSS before, peak
  during, growth), read from /proc;
- lag: for each frame, arrival at the viewer minus the timestamp of the newest
  event in it (server and viewers share the machine's clock); per viewer its
  worst frame, and across viewers the slowest one's.

One viewer parses every frame (for the coalescing figures); the others read only
the sequence numbers at the head of a frame and the newest event's timestamp at
its end, so that 200 clients in this one process do not themselves become the
bottleneck (their CPU use is printed too). Targets at 200 viewers:
no viewer more than 1 s behind, no gaps, peak RSS growth under 256 MB.

    .venv/bin/python bench/viewers.py [--quick] [--record]

``--observer`` runs another scenario (see the section of that name below): an
outside client (plain boto3, not Flowdash) makes a topic with three queues and a
second later publishes 1,000 messages; 200 viewers follow, with the embedded
observer (FLOWDASH_OBSERVER=inside, the default) and, as the same-run baseline,
with FLOWDASH_OBSERVER=outside. Targets: the slowest viewer ≤ 0.5 s behind the
last publish, no gaps or resyncs during the burst, every publication seen.

    .venv/bin/python bench/viewers.py --observer [--quick] [--rounds N] [--batch 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    FRAME_HEAD,
    FlowdashServer,
    ProcStat,
    Table,
    api_topology,
    emit,
    engine_sees,
    flowdash_cluster,
    flowdash_server,
    fmt,
    load_1min,
    percentile,
    poll,
    progress,
    queues_empty,
    quiet_seq,
    server_env,
    server_env_argument,
    server_env_note,
    until_snapshot,
    workers_set,
    ws_connect,
)

BURST = 1_000
FANOUT = 3
LAG_TARGET_S = 1.0
MEMORY_TARGET_MB = 256.0
CATCH_UP_SECONDS = 20.0


LAST_TS = b'"ts":'
COUNTS_KEY = b'"counts":'


def newest_ts(raw: bytes) -> float | None:
    """The timestamp of a frame's last (newest) event, found without parsing the frame:
    inside JSON strings a quote is escaped, so ``"ts":`` only appears as a key."""
    end = raw.rfind(COUNTS_KEY)
    at = raw.rfind(LAST_TS, 0, end)
    if at < 0:
        return None
    start = at + len(LAST_TS)
    while start < len(raw) and raw[start] == 0x20:  # a space after the colon, or none
        start += 1
    stop = start
    while stop < len(raw) and raw[stop] in b"0123456789.eE+-":
        stop += 1
    try:
        return float(raw[start:stop])
    except ValueError:  # an attribute named "ts": parse the frame after all
        events = json.loads(raw)["events"]
        return max((e["ts"] for e in events), default=None)


@dataclass
class Viewer:
    """One websocket client, following the protocol's rules as a browser tab does:
    frames before the snapshot are dropped, a gap asks for a resync."""

    detailed: bool
    last_seq: int = -1
    awaiting_snapshot: bool = True
    frames: int = 0
    gaps: int = 0
    bytes: int = 0
    worst_lag: float = 0.0
    reached_at: dict[int, float] = field(default_factory=dict)  # snapshot/frame seq -> time
    # Only the detailed viewer fills these:
    counts: Counter[str] = field(default_factory=Counter)
    detail_events: int = 0

    def take(self, raw: bytes, now: float) -> bool:
        """Apply one message; returns True when the viewer must ask for a resync."""
        self.bytes += len(raw)
        head = FRAME_HEAD.search(raw, 0, 200)
        if head is None:
            message = json.loads(raw)
            if message.get("type") == "snapshot":
                self.last_seq = max(self.last_seq, message["last_seq"])
                self.awaiting_snapshot = False
                self.reached_at[self.last_seq] = now
            return False
        from_seq, to_seq = int(head.group(1)), int(head.group(2))
        if self.awaiting_snapshot or to_seq <= self.last_seq:
            return False
        if from_seq > self.last_seq + 1:
            self.gaps += 1
            self.awaiting_snapshot = True
            return True
        self.last_seq = to_seq
        self.reached_at[to_seq] = now
        self.frames += 1
        ts = newest_ts(raw)
        if ts is not None:
            self.worst_lag = max(self.worst_lag, now - ts)
        if self.detailed:
            frame = json.loads(raw)
            self.detail_events += len(frame["events"])
            for key, n in frame["counts"].items():
                self.counts[key.split("|", 1)[0]] += n
        return False

    def caught_up_at(self, seq: int) -> float | None:
        """When this viewer first held everything up to ``seq``."""
        times = [at for s, at in self.reached_at.items() if s >= seq]
        return min(times) if times else None


async def follow(ws: Any, viewer: Viewer, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            raw = await asyncio.wait_for(ws.recv(decode=False), 0.5)
        except TimeoutError:
            continue
        except Exception:  # closed by the server: the record shows it stopped
            return
        if viewer.take(raw, time.time()):
            await ws.send(json.dumps({"type": "resync"}))


class Sampler:
    """Reads the server's /proc figures every 0.2 s in a thread, keeping the peak."""

    def __init__(self, stat: Callable[[], ProcStat]) -> None:
        self.stat = stat
        self.peak_rss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self.stat().rss_mb)
            self._stop.wait(0.2)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True, slots=True)
class Setup:
    """Where the viewers connect and whose CPU and memory count."""

    label: str
    entry: FlowdashServer  # the API and the snapshots used to tell the burst is over
    webs: list[FlowdashServer]  # viewers are spread over these, round robin
    stat: Callable[[], ProcStat]


@dataclass
class Outcome:
    setup: str
    clients: int
    viewers: list[Viewer]
    before: ProcStat
    after: ProcStat
    peak_rss: float
    seconds: float
    burst_seconds: float
    client_cpu: float
    lags: list[float]  # each viewer's worst lag, seconds
    caught_up: int


async def connect_all(setup: Setup, count: int) -> list[Any]:
    """Connect in waves of 25, as a lecture hall does when the link goes up."""
    cookie = setup.entry.session_cookie()  # one database: the session works everywhere
    sockets: list[Any] = []
    for start in range(0, count, 25):
        wave = [
            ws_connect(setup.webs[n % len(setup.webs)], cookie=cookie)
            for n in range(start, min(count, start + 25))
        ]
        sockets.extend(await asyncio.gather(*wave))
    return sockets


async def snapshot_seq(server: FlowdashServer) -> int:
    ws = await ws_connect(server)
    try:
        seq: int = (await until_snapshot(ws))["last_seq"]
        return seq
    finally:
        await ws.close()


async def _at_least(server: FlowdashServer, seq: int) -> bool:
    return await snapshot_seq(server) >= seq


async def burst_over(setup: Setup, queues: list[dict[str, str]], start_seq: int) -> None:
    """The engine saw every publication (a published and a delivered per queue for each
    message, at least), the workers emptied every queue, and its sequence number
    stood still for a second. Read from outside, so it works wherever the engine runs."""
    least = start_seq + BURST * (1 + FANOUT)
    await poll(lambda: _at_least(setup.entry, least), every=0.5)
    await poll(lambda: asyncio.to_thread(queues_empty, setup.entry, queues), every=0.25)


async def run_hall(setup: Setup, clients: int) -> Outcome:
    entry = setup.entry
    topic, queues = await asyncio.to_thread(api_topology, entry, name="hall", fanout=FANOUT)
    await engine_sees(entry, [topic, *(q["arn"] for q in queues)])
    for queue in queues:
        await asyncio.to_thread(workers_set, entry, queue["arn"], count=1, min_ms=0, max_ms=0)
    sockets = await connect_all(setup, clients)
    viewers = [Viewer(detailed=(n == 0)) for n in range(clients)]
    stop = asyncio.Event()
    readers = [
        asyncio.create_task(follow(ws, v, stop)) for ws, v in zip(sockets, viewers, strict=True)
    ]
    async with asyncio.timeout(60):
        await poll(lambda: not any(v.awaiting_snapshot for v in viewers))
    await asyncio.sleep(2.0)  # the workers' first polls, the snapshots' aftermath
    start_seq = await quiet_seq(entry)
    before = setup.stat()
    client_cpu = os.times()
    started = time.monotonic()
    with Sampler(setup.stat) as sampler:
        with entry.api() as api:
            response = await asyncio.to_thread(
                api.post,
                f"/api/topics/{topic}/burst",
                json={"count": BURST, "rate": 1000, "body_template": "hall {{n}}"},
            )
            response.raise_for_status()
        async with asyncio.timeout(180):
            await burst_over(setup, queues, start_seq)
        burst_seconds = time.monotonic() - started
        done_seq = await quiet_seq(entry)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CATCH_UP_SECONDS):
                await poll(lambda: all(v.caught_up_at(done_seq) is not None for v in viewers))
        seconds = time.monotonic() - started
        after = setup.stat()
    client_times = os.times()
    stop.set()
    await asyncio.gather(*readers)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    lags = [
        v.worst_lag if v.caught_up_at(done_seq) is not None else max(v.worst_lag, CATCH_UP_SECONDS)
        for v in viewers
    ]
    cpu = (client_times.user + client_times.system) - (client_cpu.user + client_cpu.system)
    return Outcome(
        setup=setup.label,
        clients=clients,
        viewers=viewers,
        before=before,
        after=after,
        peak_rss=sampler.peak_rss,
        seconds=seconds,
        burst_seconds=burst_seconds,
        client_cpu=cpu,
        lags=lags,
        caught_up=sum(v.caught_up_at(done_seq) is not None for v in viewers),
    )


def table(outcomes: list[Outcome], *, quick: bool) -> Table:
    out = Table(
        title=f"3. Viewers during a {BURST:,}-message burst (fanout {FANOUT})",
        columns=[
            "setup", "viewers", "burst s", "frames per viewer (min / median)", "gaps -> resyncs",
            "events in detail / all (one viewer)", "KB/s per viewer", "server CPU (% of a core)",
            "server RSS MB: before / peak / growth", "worst lag s: median viewer / slowest",
            "caught up", "bench client CPU %", "target", "met?",
        ],
    )  # fmt: skip
    for o in outcomes:
        frames = [v.frames for v in o.viewers]
        reference = o.viewers[0]
        all_events = sum(reference.counts.values())
        cpu = (o.after.cpu_seconds - o.before.cpu_seconds) / o.seconds
        growth = o.peak_rss - o.before.rss_mb
        kbps = statistics.median(v.bytes for v in o.viewers) / 1024 / o.seconds
        target, verdict = "", ""
        if o.clients >= 200:
            worst = max(o.lags)
            gaps = sum(v.gaps for v in o.viewers)
            target = "lag ≤ 1 s, no gaps, growth < 256 MB"
            verdict = " / ".join(
                [
                    out.target(
                        f"{o.clients} viewers, {o.setup}: slowest {worst:.2f} s behind",
                        worst <= LAG_TARGET_S,
                    ),
                    out.target(f"{o.clients} viewers, {o.setup}: {gaps} gaps", gaps == 0),
                    out.target(
                        f"{o.clients} viewers, {o.setup}: peak RSS growth {growth:.0f} MB",
                        growth < MEMORY_TARGET_MB,
                    ),
                ]
            )
        out.row(
            o.setup,
            o.clients,
            f"{o.burst_seconds:.1f}",
            f"{min(frames)} / {statistics.median(frames):.0f}",
            sum(v.gaps for v in o.viewers),
            f"{reference.detail_events:,} / {all_events:,}",
            f"{kbps:,.0f}",
            f"{cpu:.0%}",
            f"{o.before.rss_mb:.0f} / {o.peak_rss:.0f} / {growth:+.0f}",
            f"{fmt(percentile(o.lags, 50), 2)} / {max(o.lags):.2f}",
            f"{o.caught_up} of {o.clients}",
            f"{o.client_cpu / o.seconds:.0%}",
            target,
            verdict,
        )
    out.notes = [
        "Viewers run: " + ", ".join(f"{o.clients} ({o.setup})" for o in outcomes)
        + (" (--quick)" if quick else "") + f"; fresh servers for each; burst {BURST:,} "
        f"messages at rate 1,000 via POST /api/topics/<arn>/burst, {FANOUT} queues with one "
        "0 ms worker each.",
        "Lag: frame arrival minus its newest event's timestamp. A viewer that never reached "
        f"the final frame within {CATCH_UP_SECONDS:.0f} s counts as {CATCH_UP_SECONDS:.0f} s.",
        "The benchmark's clients share this 2-core machine with the server; their CPU is "
        "the 'bench client' column. Scaled out: server CPU and RSS add up every process "
        "(Redis, flowwatch with moto and the engine, both Daphne processes); viewers are "
        "spread over the two Daphne processes.",
    ]  # fmt: skip
    return out


SINGLE = "one process (default)"
SCALED = "scaled out: Redis, flowwatch, 2 Daphne"


async def run_all(plan: list[tuple[str, int]]) -> list[Outcome]:
    outcomes = []
    for kind, clients in plan:
        progress(f"viewers: {clients} websocket clients, {kind}, {BURST} messages")
        if kind == SINGLE:
            with flowdash_server() as server:
                setup = Setup(label=kind, entry=server, webs=[server], stat=server.stat)
                outcomes.append(await run_hall(setup, clients))
        else:
            with flowdash_cluster(webs=2) as cluster:
                setup = Setup(label=kind, entry=cluster.webs[0], webs=cluster.webs,
                              stat=cluster.stat)  # fmt: skip
                outcomes.append(await run_hall(setup, clients))
    return outcomes


def run(*, quick: bool) -> list[Table]:
    plan = [(SINGLE, 1), (SINGLE, 50)]
    if not quick:
        plan += [(SINGLE, 200), (SCALED, 200)]
    return [table(asyncio.run(run_all(plan)), quick=quick)]


# --- --observer: an outside client's burst, seen by the embedded observer or from outside
#
# The embedded observer (FLOWDASH_OBSERVER=inside, the default) is told by the broker
# about every client's every operation; the outside path (taps, samples, periodic
# topology reads) sees only what it already knows. Here a plain boto3 client, not
# Flowdash, makes a topic with three queues and publishes a burst a second later;
# the same run is repeated with FLOWDASH_OBSERVER=outside as the baseline.

OBS_VIEWERS = 200
OBS_QUEUES = 3
OBS_LEAD_SECONDS = 1.0
OBS_LAG_TARGET_S = 0.5
#: How long after the last publish a viewer may take to see the whole burst.
OBS_CATCH_UP = 10.0
PUBLISHED_KEY = "published|"
DELIVERED_KEY = "delivered|"
CHANGED_KEY = "resource_changed|"


def frame_counts(raw: bytes) -> dict[str, int]:
    """A frame's ``counts`` without parsing the frame: a flat object of ``"type|arn": n``
    after the events (ARNs hold no braces), so it ends at the first ``}`` after its key."""
    at = raw.rfind(COUNTS_KEY)
    if at < 0:
        return {}
    start = at + len(COUNTS_KEY)
    counts: dict[str, int] = json.loads(raw[start : raw.index(b"}", start) + 1])
    return counts


@dataclass
class Follower:
    """A viewer that follows the protocol as static/js/socket.js does: frames wait for a
    snapshot; after it, buffered frames it covers are dropped and a straddling one loses
    the events it covers; a gap asks for a resync, and so does a ``resource_changed``
    event. It counts the burst's ``published`` and ``delivered`` events from each
    applied frame's ``counts`` (exact: a straddling frame is parsed)."""

    last_seq: int = -1
    awaiting: bool = True
    buffer: list[tuple[bytes, float]] = field(default_factory=list)
    frames: int = 0
    gaps: int = 0
    resyncs: list[tuple[float, str]] = field(default_factory=list)  # (when, why)
    published: int = 0
    delivered: int = 0
    #: Counts taken from a sampled frame that straddled a snapshot: not exact.
    inexact: bool = False
    complete_at: float | None = None  # when published and delivered reached the burst's
    expected: tuple[int, int] = (0, 0)
    #: Closed by the server: (when, close code); the viewer reconnected each time.
    closed: list[tuple[float, int | None]] = field(default_factory=list)
    worst_lag: float = 0.0  # frame arrival - newest event's ts, from lag_from on
    lag_from: float = float("inf")
    reached_at: dict[int, float] = field(default_factory=dict)

    def take(self, raw: bytes, now: float) -> bool:
        """Apply one message; True when the viewer must send a resync."""
        head = FRAME_HEAD.search(raw, 0, 200)
        if head is None:
            message = json.loads(raw)
            if message.get("type") == "snapshot":
                return self._snapshot(message["last_seq"], now)
            return False
        if self.awaiting:
            self.buffer.append((raw, now))
            return False
        return self._frame(raw, int(head.group(1)), int(head.group(2)), now)

    def _snapshot(self, last_seq: int, now: float) -> bool:
        self.last_seq = last_seq
        self.awaiting = False
        self.reached_at[last_seq] = now
        buffered, self.buffer = self.buffer, []
        resync = False
        for raw, at in buffered:
            head = FRAME_HEAD.search(raw, 0, 200)
            assert head is not None
            from_seq, to_seq = int(head.group(1)), int(head.group(2))
            if self.awaiting:
                self.buffer.append((raw, at))
            elif from_seq <= self.last_seq + 1:  # else dropped, as the page does
                resync = self._frame(raw, from_seq, to_seq, at) or resync
        return resync

    def _resync(self, now: float, why: str) -> bool:
        self.resyncs.append((now, why))
        if self.awaiting:
            return False
        self.awaiting = True
        return True

    def _frame(self, raw: bytes, from_seq: int, to_seq: int, now: float) -> bool:
        if to_seq <= self.last_seq:
            return False
        if from_seq > self.last_seq + 1:
            self.gaps += 1
            self.buffer.append((raw, now))
            return self._resync(now, "gap")
        counts = frame_counts(raw)
        if from_seq <= self.last_seq:  # straddles the snapshot: count the newer part only
            frame = json.loads(raw)
            self.inexact |= bool(frame["sampled"])
            counts = {}
            for event in frame["events"]:
                if event["seq"] > self.last_seq:
                    key = f"{event['type']}|"
                    counts[key] = counts.get(key, 0) + 1
        changed = False
        for key, n in counts.items():
            if key.startswith(PUBLISHED_KEY):
                self.published += n
            elif key.startswith(DELIVERED_KEY):
                self.delivered += n
            elif key.startswith(CHANGED_KEY):
                changed = True
        self.last_seq = to_seq
        self.reached_at[to_seq] = now
        self.frames += 1
        if now >= self.lag_from:
            ts = newest_ts(raw)
            if ts is not None:
                self.worst_lag = max(self.worst_lag, now - ts)
        if (
            self.complete_at is None
            and self.expected[0]
            and self.published >= self.expected[0]
            and self.delivered >= self.expected[1]
        ):
            self.complete_at = now
        if changed:
            return self._resync(now, "resource_changed")
        return False

    def caught_up_at(self, seq: int) -> float | None:
        times = [at for s, at in self.reached_at.items() if s >= seq]
        return min(times) if times else None


async def obs_follow(
    server: FlowdashServer, cookie: str, ws: Any, viewer: Follower, stop: asyncio.Event
) -> None:
    """Read one viewer's socket until ``stop``; when the server closes it, reconnect after
    the page's first backoff (500 ms) and start again from a snapshot, as the page does."""
    from websockets.exceptions import ConnectionClosed

    try:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(decode=False), 0.5)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                viewer.closed.append((time.time(), code))
                await asyncio.sleep(0.5)
                if stop.is_set():
                    return
                ws = await ws_connect(server, cookie=cookie)
                viewer.awaiting, viewer.buffer = True, []
                continue
            if viewer.take(raw, time.time()):
                await ws.send(json.dumps({"type": "resync"}))
    finally:
        with contextlib.suppress(Exception):
            await ws.close()


def external_burst(endpoint: str, name: str, count: int, batch: int, lead: float) -> None:
    """The outside client, in its own process: plain boto3 (its user agent does not say
    flowdash). Makes a topic with OBS_QUEUES subscribed queues, waits ``lead`` seconds,
    publishes ``count`` messages (PublishBatch of ``batch``, or Publish when 1) as fast
    as it can, and prints what it did, with wall-clock times, as JSON."""
    from bench.harness import aws_client

    sns, sqs = aws_client("sns", endpoint), aws_client("sqs", endpoint)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()  # go
    started = time.time()
    topic = sns.create_topic(Name=name)["TopicArn"]
    queues = []
    for n in range(OBS_QUEUES):
        url = sqs.create_queue(QueueName=f"{name}-{n}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        queues.append(arn["Attributes"]["QueueArn"])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queues[-1])
    created = time.time()
    time.sleep(max(0.0, created + lead - time.time()))
    first = time.time()
    sent = 0
    while sent < count:
        size = min(batch, count - sent)
        if batch == 1:
            sns.publish(TopicArn=topic, Message=f"outside {sent}")
        else:
            response = sns.publish_batch(
                TopicArn=topic,
                PublishBatchRequestEntries=[
                    {"Id": str(n), "Message": f"outside {sent + n}"} for n in range(size)
                ],
            )
            if len(response["Successful"]) != size:
                raise RuntimeError(f"PublishBatch failed: {response.get('Failed')}")
        sent += size
    last = time.time()
    print(json.dumps({"topic": topic, "queues": queues, "started": started, "created": created,
                      "first": first, "last": last, "sent": sent}), flush=True)  # fmt: skip


@dataclass
class ObsOutcome:
    observer: str
    round: int
    clients: int
    viewers: list[Follower]
    burst: dict[str, Any]
    before: ProcStat
    after: ProcStat
    peak_rss: float
    seconds: float
    client_cpu: float
    done_seq: int
    caught_up: int
    load: float  #: the machine's 1-minute load average before the burst
    server_errors: list[str]  #: exception lines in the server's log
    tracebacks: int

    @property
    def behind(self) -> list[float | None]:
        """Per viewer: when it had seen the whole burst, after the last publish returned."""
        last = self.burst["last"]
        return [None if v.complete_at is None else v.complete_at - last for v in self.viewers]


async def obs_round(server: FlowdashServer, observer: str, round_: int, clients: int,
                    batch: int) -> ObsOutcome:  # fmt: skip
    health = await asyncio.to_thread(server.health)
    if health.get("observer") != observer:
        raise RuntimeError(f"asked for observer {observer}, /healthz says {health.get('observer')}")
    setup = Setup(label=observer, entry=server, webs=[server], stat=server.stat)
    # The outside client starts first (Python and boto3 take a while to import), then
    # waits for the word, so that the topic really is made one second before the burst.
    publisher = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--external-burst", server.moto_url, f"outside-{round_}",
        str(BURST), str(batch), str(OBS_LEAD_SECONDS),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert publisher.stdout is not None and publisher.stdin is not None
    sockets = await connect_all(setup, clients)
    viewers = [Follower() for _ in range(clients)]
    stop = asyncio.Event()
    cookie = server.session_cookie()
    readers = [
        asyncio.create_task(obs_follow(server, cookie, ws, v, stop))
        for ws, v in zip(sockets, viewers, strict=True)
    ]
    async with asyncio.timeout(60):
        await poll(lambda: not any(v.awaiting for v in viewers))
        if (await publisher.stdout.readline()).strip() != b"ready":
            raise RuntimeError("the outside publisher did not start")
    await asyncio.sleep(1.0)
    await quiet_seq(server)
    for v in viewers:
        v.expected = (BURST, BURST * OBS_QUEUES)
    load = load_1min()
    before = server.stat()
    client_cpu = os.times()
    started = time.monotonic()
    with Sampler(server.stat) as sampler:
        go = time.time()
        for v in viewers:  # frame lag counts from the topic's creation on
            v.lag_from = go
        publisher.stdin.write(b"go\n")
        await publisher.stdin.drain()
        async with asyncio.timeout(180):
            out = await publisher.stdout.read()
            await publisher.wait()
        if publisher.returncode != 0:
            raise RuntimeError("the outside publisher failed")
        burst = json.loads(out)
        deadline = time.monotonic() + max(0.0, burst["last"] + OBS_CATCH_UP - time.time())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await poll(lambda: all(v.complete_at is not None for v in viewers), every=0.05)
        done_seq = await quiet_seq(server)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await poll(lambda: all(v.caught_up_at(done_seq) is not None for v in viewers))
        seconds = time.monotonic() - started
        after = server.stat()
    client_times = os.times()
    stop.set()
    await asyncio.gather(*readers)
    cpu = (client_times.user + client_times.system) - (client_cpu.user + client_cpu.system)
    failures = [line for line in server.process.log_text().splitlines()
                if line.startswith(("channels.exceptions.", "Traceback"))]  # fmt: skip
    return ObsOutcome(
        observer=observer, round=round_, clients=clients, viewers=viewers, burst=burst,
        before=before, after=after, peak_rss=sampler.peak_rss, seconds=seconds,
        client_cpu=cpu, done_seq=done_seq,
        caught_up=sum(v.caught_up_at(done_seq) is not None for v in viewers),
        load=load,
        server_errors=sorted(set(line for line in failures if not line.startswith("Traceback"))),
        tracebacks=sum(line.startswith("Traceback") for line in failures),
    )  # fmt: skip


def obs_table(outcomes: list[ObsOutcome], *, quick: bool, batch: int) -> Table:
    out = Table(
        title=f"Viewers of an outside client's burst: {BURST:,} publishes at fanout "
        f"{OBS_QUEUES}, topic made by plain boto3 {OBS_LEAD_SECONDS:g} s before; "
        "observer inside vs outside (baseline)",
        columns=[
            "observer", "round", "viewers", "burst s", "published seen per viewer: min / max",
            "delivered seen: min / max", "gaps", "resyncs during the burst",
            "resyncs before it (resource_changed)", "sockets closed by the server (before / "
            "during the burst)",
            "behind the last publish, s: median viewer / slowest",
            "viewers never closed: count, slowest s, published seen min",
            "worst frame lag s",
            "server CPU (% of a core)", "server RSS MB: before / peak", "bench client CPU %",
            "load (1 min) at start", "target", "met?",
        ],
    )  # fmt: skip
    for o in outcomes:
        first = o.burst["first"]
        published = [v.published for v in o.viewers]
        delivered = [v.delivered for v in o.viewers]
        gaps = sum(v.gaps for v in o.viewers)
        during = sum(1 for v in o.viewers for at, _ in v.resyncs if at >= first)
        early = sum(1 for v in o.viewers for at, why in v.resyncs
                    if at < first and why == "resource_changed")  # fmt: skip
        closed_before = sum(1 for v in o.viewers for at, _ in v.closed if at < first)
        closed_during = sum(1 for v in o.viewers for at, _ in v.closed if at >= first)
        closed = closed_before + closed_during
        behind = o.behind
        seen = [b for b in behind if b is not None]
        never = len(behind) - len(seen)
        slowest = max(seen) if not never else float("inf")
        median = percentile([b if b is not None else float("inf") for b in behind], 50)

        def secs(value: float) -> str:
            return f"never (> {OBS_CATCH_UP:g})" if value == float("inf") else f"{value:.2f}"

        kept = [(v, b) for v, b in zip(o.viewers, behind, strict=True) if not v.closed]
        kept_slowest = max((b if b is not None else float("inf") for _, b in kept), default=0.0)
        kept_seen = min((v.published for v, _ in kept), default=0)
        cpu = (o.after.cpu_seconds - o.before.cpu_seconds) / o.seconds
        all_seen = all(p == BURST for p in published) and not any(v.inexact for v in o.viewers)
        label = f"{o.clients} viewers, observer {o.observer}, round {o.round}"
        verdict = " / ".join(
            [
                out.target(
                    f"{label}: slowest viewer {secs(slowest)} s behind the last publish",
                    slowest <= OBS_LAG_TARGET_S,
                ),
                out.target(
                    f"{label}: {gaps} gaps, {during} resyncs during the burst, "
                    f"{closed} sockets closed by the server",
                    gaps == 0 and during == 0 and closed == 0,
                ),
                out.target(
                    f"{label}: published seen {min(published):,}-{max(published):,} of {BURST:,}",
                    all_seen,
                ),
            ]
        )
        out.row(
            o.observer, o.round, o.clients,
            f"{o.burst['last'] - o.burst['first']:.1f}",
            f"{min(published):,} / {max(published):,}"
            + (" (inexact)" if any(v.inexact for v in o.viewers) else ""),
            f"{min(delivered):,} / {max(delivered):,}",
            gaps, during, early, f"{closed_before} / {closed_during}",
            f"{secs(median)} / {secs(slowest)}" + (f" ({never} never)" if never else ""),
            f"{len(kept)}, {secs(kept_slowest)}, {kept_seen:,}",
            f"{max(v.worst_lag for v in o.viewers):.2f}",
            f"{cpu:.0%}",
            f"{o.before.rss_mb:.0f} / {o.peak_rss:.0f}",
            f"{o.client_cpu / o.seconds:.0%}",
            f"{o.load:.1f}",
            "≤ 0.5 s behind, no gaps, all 1,000 seen", verdict,
        )  # fmt: skip
    api = f"PublishBatch({batch})" if batch > 1 else "Publish"
    out.notes = [
        f"Per round a fresh `manage.py serve` (embedded backend) with FLOWDASH_OBSERVER set; "
        f"{outcomes[0].clients if outcomes else 0} viewers on /ws/flow/, following the "
        "protocol as static/js/socket.js does (a resource_changed event or a gap asks for a "
        "resync; frames wait for the snapshot)" + (" (--quick)" if quick else "") + ".",
        f"The outside client, a plain boto3 process against the embedded moto's port, makes "
        f"the topic, {OBS_QUEUES} queues and their subscriptions, waits "
        f"{OBS_LEAD_SECONDS:g} s, then publishes {BURST:,} messages with {api} as fast as "
        "it can. No workers: the copies stay in the queues.",
        "Published / delivered seen: the sum of the frames' `counts` a viewer applied "
        f"(expected {BURST:,} and {BURST * OBS_QUEUES:,}). Behind the last publish: the "
        "arrival of the frame that completed both counts minus the return of the last "
        "publish call (the same wall clock); a viewer that never completed them within "
        f"{OBS_CATCH_UP:g} s is 'never'. Worst frame lag: arrival minus the newest event's "
        "timestamp, over frames from the topic's creation on.",
        "Resyncs before the burst: the page resyncs on every resource_changed event (the "
        "topic, queues and subscriptions appearing), as the protocol asks; they are not "
        "losses. Resyncs during the burst and gaps are.",
        "Sockets closed by the server: the viewer reconnects after 500 ms and starts from a "
        "snapshot, as the page does; a closure is a miss whenever it happens.",
        "Rounds alternate inside / outside (ABBA), each on a fresh server.",
    ]  # fmt: skip
    errors = sorted({e for o in outcomes for e in o.server_errors})
    if errors:
        out.notes.append(
            "Server log: " + "; ".join(
                f"{o.observer} round {o.round}: {o.tracebacks} tracebacks"
                for o in outcomes if o.tracebacks
            ) + " (" + "; ".join(f"`{e[:160]}`" for e in errors) + ")."
        )  # fmt: skip
    return out


async def obs_run_all(
    plan: list[tuple[str, int]], clients: int, batch: int, env: dict[str, str]
) -> list[ObsOutcome]:
    outcomes = []
    for observer, round_ in plan:
        progress(f"viewers --observer: {observer}, round {round_}, {clients} viewers")
        with flowdash_server(**{**env, "FLOWDASH_OBSERVER": observer}) as server:
            outcomes.append(await obs_round(server, observer, round_, clients, batch))
    return outcomes


def obs_run(
    *, quick: bool, rounds: int | None, batch: int, env: dict[str, str] | None = None
) -> list[Table]:
    rounds = rounds or (1 if quick else 2)
    clients = 50 if quick else OBS_VIEWERS
    order = []
    for n in range(1, rounds + 1):
        pair = [("inside", n), ("outside", n)]
        order += pair if n % 2 else pair[::-1]
    outcomes = asyncio.run(obs_run_all(order, clients, batch, env or {}))
    outcomes.sort(key=lambda o: (o.observer, o.round))
    return [obs_table(outcomes, quick=quick, batch=batch)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 50 viewers only")
    parser.add_argument("--record", action="store_true", help="append to bench/results/flow.md")
    parser.add_argument(
        "--observer", action="store_true",
        help="an outside client's burst, observer inside vs outside (200 viewers, ~2.5 min; "
        "--quick: 50 viewers, one round each)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, help="--observer: rounds per observer (2)")
    parser.add_argument(
        "--batch", type=int, default=10,
        help="--observer: publishes per PublishBatch call (1: one Publish per message)",
    )  # fmt: skip
    server_env_argument(parser)
    parser.add_argument("--external-burst", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.external_burst:
        endpoint, name, count, batch, lead = args.external_burst
        external_burst(endpoint, name, int(count), int(batch), float(lead))
        return
    if args.observer:
        env = server_env(args)
        tables = obs_run(quick=args.quick, rounds=args.rounds, batch=args.batch, env=env)
        server_env_note(tables, env)
        emit(tables, record=args.record, header="viewers.py --observer")
        return
    emit(run(quick=args.quick), record=args.record, header="viewers.py")


if __name__ == "__main__":
    main()
