"""Benchmark 2, end-to-end latency: from a publish returning to its frames in a browser.

For each cell of the matrix (rate x fanout) a fresh ``manage.py serve`` (embedded
backend, default settings) gets a topic with ``fanout`` subscribed queues, made
through the API, and one simulated worker per queue with no processing time
(0 ms, so what is measured is Flowdash and moto, not a sleep). A websocket
client, logged in through the login form, follows ``/ws/flow/``; a publisher in
its own process (so that neither waits on the other's GIL) publishes with boto3
at the cell's rate, straight to the embedded moto server, and notes when each
publish call returned. Both read the same CLOCK_MONOTONIC.

The same-run baseline: the topic has one more queue, with no Flowdash worker,
which a bare boto3 long-poll loop in this process reads; its figure (publish
returned to copy in hand) is what moto alone takes under the same load.

Latency of an event = arrival of the frame carrying it - return of the publish
call, for ``delivered`` (the tap queue saw the publication; one per subscribed
queue) and ``processed`` (a worker finished its copy). Frames are coalesced
(≤ 20 a second), so up to 50 ms of each figure is the frame interval by design.

At high rates frames are *sampled* (protocol: whole journeys of ≤ 25 messages
per frame, counts for everything): percentiles then come from the sample, and
the table says how many events they rest on. Above 20 messages a second the
publisher uses PublishBatch(10), as Flowdash's own burst does (and as a real
producer at that rate would); below it, one Publish per message. A cell whose
rate moto cannot reach reports the rate it did reach.

    .venv/bin/python bench/latency.py [--quick] [--record]

``--observer`` compares the 100 msg/s x fanout 5 cell (five queues, one 0 ms
worker each, no bare queue) in ``make run``'s configuration (embedded backend,
FLOWDASH_OBSERVER=inside) against FLOWDASH_OBSERVER=outside, in alternating
rounds, plus a capacity cell per observer (1,000 msg/s asked for 3 s). Targets:
≥ 100 msg/s reached and p99 < 250 ms. ``--profile`` adds a cell per observer with
py-spy attached to the server and writes the profiles (raw collapsed stacks and
a summary: self and cumulative time by function, by area, by thread) to
bench/results/profiles/.

    .venv/bin/python bench/latency.py --observer [--quick] [--rounds N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    FlowdashServer,
    Table,
    api_topology,
    aws_client,
    emit,
    engine_sees,
    flowdash_server,
    fmt,
    load_1min,
    percentile,
    progress,
    server_env,
    server_env_argument,
    server_env_note,
    until_snapshot,
    workers_set,
    ws_connect,
)

TARGET_MS = 250.0
#: The target cell counts only if the publisher reached this share of the asked rate.
RATE_REACHED = 0.9
BATCH_ABOVE_RATE = 20.0  # as messaging.burst does
DRAIN_SECONDS = 45.0


@dataclass(frozen=True, slots=True)
class Cell:
    rate: float
    fanout: int
    seconds: float
    #: Run moto in its own process (``FLOWDASH_BACKEND=endpoint``) instead of inside
    #: the Flowdash process: what giving moto its own core (its own GIL) buys.
    moto_apart: bool = False
    #: FLOWDASH_OBSERVER for the server (None: the default, inside).
    observer: str | None = None
    #: One more queue on the topic read by a bare boto3 loop (the matrix's baseline).
    bare: bool = True
    #: --observer: which round of the comparison this cell belongs to.
    round: int = 0
    #: Record a py-spy profile of the server while the publisher runs.
    profile: bool = False

    @property
    def count(self) -> int:
        return int(self.rate * self.seconds)


FULL = [
    Cell(rate, fanout, seconds)
    for rate, seconds in ((10, 15), (100, 10), (1000, 3))
    for fanout in (1, 5, 20)
]
FULL.append(Cell(100, 5, 10, moto_apart=True))
QUICK = [Cell(10, 1, 6), Cell(100, 5, 5)]


# --- the publisher, in its own process


def moto_serve() -> None:
    """A moto server (fast path on) in this process until stdin closes; prints its URL."""
    from messaging.embedded import EmbeddedServer

    server = EmbeddedServer(port=0)
    print(server.start(), flush=True)
    sys.stdin.read()
    server.stop()


@contextlib.contextmanager
def moto_process() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--moto"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=20)


def publish(endpoint: str, topic: str, rate: float, count: int) -> None:
    """Publish ``count`` messages at ``rate``; print ``[[trace_id, returned_at], ...]``."""
    sns = aws_client("sns", endpoint)
    per_call = 10 if rate > BATCH_ABOVE_RATE else 1
    returned: list[tuple[str, float]] = []
    calls: list[float] = []  # each call's duration, seconds
    start = time.monotonic()
    sent = 0
    while sent < count:
        numbers = range(sent, min(count, sent + per_call))
        called = time.monotonic()
        if per_call == 1:
            message_id = sns.publish(TopicArn=topic, Message=f"latency {sent}")["MessageId"]
            returned.append((message_id, time.monotonic()))
        else:
            response = sns.publish_batch(
                TopicArn=topic,
                PublishBatchRequestEntries=[
                    {"Id": str(n), "Message": f"latency {n}"} for n in numbers
                ],
            )
            now = time.monotonic()
            returned.extend((ok["MessageId"], now) for ok in response["Successful"])
        calls.append(time.monotonic() - called)
        sent += len(numbers)
        delay = start + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    ended = time.monotonic()
    print(json.dumps({"returned": returned, "seconds": ended - start, "ended_at": ended,
                      "calls": calls}), flush=True)  # fmt: skip


# --- profiling the server (py-spy)

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "bench" / "results" / "profiles"

#: Areas a sampled stack can be charged to, tested in this order on each frame's file.
AREAS: list[tuple[str, tuple[str, ...]]] = [
    ("observer (messaging/observer.py)", ("messaging/observer.py",)),
    ("persistence (messaging/embedded/persistence.py)", ("messaging/embedded/persistence.py",)),
    ("broker hooks (messaging/embedded/broker.py)", ("messaging/embedded/broker.py",)),
    ("fast path / fixes / filtering / in-process transport", ("messaging/embedded/",)),
    ("workers (messaging/workers.py)", ("messaging/workers.py",)),
    ("flow engine, correlator, events (messaging/)", ("messaging/",)),
    ("flow bus, relay, consumers (dashboard/)", ("dashboard/",)),
    ("moto", ("/moto/",)),
    (
        "werkzeug / Flask (moto's app: request objects, routing, its HTTP server)",
        ("/werkzeug/", "/flask/", "/flask_cors/"),
    ),
    ("botocore / boto3 (Flowdash's own clients)", ("/botocore/", "/boto3/", "/urllib3/")),
    ("Channels", ("/channels/",)),
    ("Daphne / Twisted / autobahn", ("/daphne/", "/twisted/", "/autobahn/", "/txaio/")),
    ("asgiref", ("/asgiref/",)),
    ("Django", ("/django/",)),
    ("cryptography / OpenSSL", ("/cryptography/", "/OpenSSL/")),
    ("xmltodict / jinja2 / json (responses)", ("/xmltodict", "/jinja2/", "/json/")),
]


#: What the process was doing, by the first rule (in this order) matching a frame of the
#: sample's stack: so a worker's receive is charged to moto's ReceiveMessage, not to
#: the botocore client around it.
ACTIVITIES: list[tuple[str, tuple[str, ...]]] = [
    ("embedded persistence: state snapshots written (FLOWDASH_PERSIST)",
     ("messaging/embedded/persistence.py",)),
    ("event log: flowbus.events_store / events_prune (Django ORM, SQLite)",
     ("events_store (", "events_prune (")),
    ("moto: Publish / PublishBatch with its fanout (the publisher's requests)",
     ("SNSResponse.publish",)),
    ("moto: ReceiveMessage (Flowdash's workers; outside also the taps)",
     ("SQSResponse.receive_message",)),
    ("moto: DeleteMessage(Batch) (workers; outside also the taps)",
     ("SQSResponse.delete_message",)),
    ("moto: GetQueueAttributes (outside: depth samples)", ("SQSResponse.get_queue_attributes",)),
    ("moto: request handling around the action (parse, route, serialise the response)",
     ("BaseResponse.dispatch", "DomainDispatcherApplication")),
    ("werkzeug HTTP server (moto's port)", ("/werkzeug/serving.py", "socketserver.py")),
    ("botocore client side of Flowdash's own calls (before/after moto)",
     ("BaseClient._make_api_call",)),
    ("observer: draining reports into flow events", ("EmbeddedObserver.",)),
    ("watcher: taps, depth samples, topology", ("Watcher.", "messaging/taps.py")),
    ("workers' own code (WorkerPool)", ("WorkerPool.",)),
    ("frames: build and encode (flowbus)", ("frame_text (", "frame_build (", "FlowBus._frames")),
    ("sending frames: relay, consumers, Channels, Daphne, Twisted",
     ("/relay.py", "/consumers.py", "/channels/", "/daphne/", "/twisted/", "/autobahn/")),
    ("correlator and emitter (flow events)", ("Correlator.", "FlowEmitter.")),
]  # fmt: skip
#: Frames too general to rank by cumulative time (every thread or loop runs under them).
PLUMBING = ("threading.py", "/asyncio/", "concurrent/futures/", "runpy.py", "manage.py",
            "/management/", "twisted/internet/", "twisted/python/", "/selectors.py")  # fmt: skip


def _activity(frames: list[str]) -> str:
    for name, needles in ACTIVITIES:
        if any(n in f for f in frames for n in needles):
            return name
    return "other"


def _area(frame: str) -> str | None:
    for name, needles in AREAS:
        if any(n in frame for n in needles):
            return name
    return None


def _short(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py:12)``."""
    name, _, where = frame.rpartition(" (")
    for cut in ("site-packages/", f"{ROOT}/", "/lib/python3.11/"):
        if cut in where:
            where = where.split(cut, 1)[1]
    return f"{name} ({where}"


def _thread_kind(label: str) -> str:
    name = label.split(": ", 1)[-1]
    if "process_request_thread" in name:
        return "moto request threads (HTTP clients: the publisher)"
    if name.startswith("ThreadPoolExecutor") or name.startswith("asyncio_"):
        return f"thread pools ({name.rstrip('0123456789_')}…)"
    return name


def profile_summary(raw: Path, top: int = 25) -> str:
    """Self and cumulative time by function, by area and by thread, from py-spy's raw
    (collapsed) output recorded with --gil --threads --function: each sample is one
    moment the GIL was held, so shares are shares of the process's Python CPU."""
    from collections import defaultdict

    total = 0
    self_time: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    area_self: Counter[str] = Counter()
    area_incl: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    activities: Counter[str] = Counter()
    callers: Counter[str] = Counter()  # where the samples inside moto came from
    if raw.suffix == ".gz":
        import gzip

        text = gzip.decompress(raw.read_bytes()).decode()
    else:
        text = raw.read_text()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread, frames = frames[0], frames[1:]
        total += n
        threads[_thread_kind(thread)] += n
        if not frames:
            continue
        activities[_activity(frames)] += n
        if any("/moto/" in f for f in frames):
            if "flowdash-aws" in thread:
                callers[
                    "Flowdash's own calls, in process (AwsRunner threads: workers, watcher)"
                ] += n
            elif "process_request_thread" in thread:
                callers["HTTP clients on moto's port (request threads: the publisher)"] += n
            else:
                callers[f"other threads ({_thread_kind(thread)})"] += n
        self_time[_short(frames[-1])] += n
        for f in set(frames):
            if not any(p in f for p in PLUMBING):
                cumulative[_short(f)] += n
        # Self time of an area: the innermost frame that belongs to one (the standard
        # library and C calls are charged to their caller's area).
        owner = next((a for f in reversed(frames) if (a := _area(f))), "other (stdlib, etc.)")
        area_self[owner] += n
        # The middleware that names the client wraps every moto request: not the hooks'.
        for a in {_area(f) for f in frames if "ClientMiddleware" not in f} - {None}:
            area_incl[a] += n  # type: ignore[index]
    if not total:
        return "(no samples)\n"

    def pct(n: int) -> str:
        return f"{n / total:.1%}"

    out = [f"{total:,} samples with the GIL held (100 Hz)\n"]
    out += ["| activity (first matching rule, see ACTIVITIES in bench/latency.py) | share |",
            "| --- | --- |"]  # fmt: skip
    out += [f"| {a} | {pct(n)} |" for a, n in activities.most_common()]
    out += ["", "| samples inside moto, by caller | share of all samples |", "| --- | --- |"]
    out += [f"| {c} | {pct(n)} |" for c, n in callers.most_common()]
    out += ["", "| thread | share |", "| --- | --- |"]
    out += [f"| {t} | {pct(n)} |" for t, n in threads.most_common(8)]
    out += ["", "| area | self (innermost area frame) | inclusive |", "| --- | --- | --- |"]
    by_area: defaultdict[str, int] = defaultdict(int, area_self)
    for a in sorted(set(by_area) | set(area_incl), key=lambda a: -by_area[a]):
        out.append(f"| {a} | {pct(by_area[a])} | {pct(area_incl.get(a, 0))} |")
    out += ["", f"Top {top} functions by self time:", "", "| function | self |", "| --- | --- |"]
    out += [f"| `{f}` | {pct(n)} |" for f, n in self_time.most_common(top)]
    out += ["", f"Top {top} functions by cumulative time (thread and loop plumbing left out):",
            "", "| function | cumulative |",
            "| --- | --- |"]  # fmt: skip
    out += [f"| `{f}` | {pct(n)} |" for f, n in cumulative.most_common(top)]
    return "\n".join(out) + "\n"


@dataclass
class Spy:
    process: asyncio.subprocess.Process
    raw: Path
    label: str


async def profile_start(server: FlowdashServer, cell: Cell) -> Spy:
    """py-spy (``pip install py-spy``) records the server, GIL holders only, until stopped."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    PROFILES.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y%m%d-%H%M%S")
    label = f"latency-{when}-{cell.observer or 'inside'}-{cell.rate:g}x{cell.fanout}"
    raw = PROFILES / f"{label}.txt"
    process = await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(server.process.pid), "--format", "raw", "--output",
        str(raw), "--rate", "100", "--gil", "--threads", "--function", "--full-filenames",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(0.5)  # attached
    return Spy(process=process, raw=raw, label=label)


async def profile_stop(spy: Spy) -> None:
    import gzip
    import shutil
    import signal

    spy.process.send_signal(signal.SIGINT)
    _, err = await spy.process.communicate()
    if not spy.raw.exists():
        raise RuntimeError(f"py-spy wrote no profile: {err.decode(errors='replace')[-2000:]}")
    summary = PROFILES / f"{spy.label}.md"
    summary.write_text(
        f"# py-spy profile: {spy.label}\n\nThe server process (`manage.py serve`) during "
        "the cell's publishing, recorded with `py-spy record --gil --threads --function "
        f"--rate 100`; raw collapsed stacks in {spy.raw.name}.gz (gunzip, then open in "
        "https://www.speedscope.app or flamegraph.pl).\n\n" + profile_summary(spy.raw)
    )
    with spy.raw.open("rb") as raw, gzip.open(f"{spy.raw}.gz", "wb") as packed:
        shutil.copyfileobj(raw, packed)
    spy.raw.unlink()
    progress(f"profile: {summary}")


# --- the viewer


@dataclass
class Viewer:
    """Follows the flow socket: the arrival time of each event, and every count."""

    #: The queues with Flowdash workers: only their deliveries and outcomes count (on
    #: the embedded observer a bare consumer's receive and delete show as processed too).
    queues: set[str] = field(default_factory=set)
    arrivals: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    #: Every event by type, whatever its resource.
    all_counts: Counter[str] = field(default_factory=Counter)
    frames: int = 0
    sampled_frames: int = 0
    gaps: int = 0
    last_seq: int = 0
    workers_ready: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set by the caller: processed events expected; drained_at is when they were all in.
    expected: int = 0
    drained_at: float | None = None

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait (under the caller's timeout) until a frame makes ``predicate`` true."""
        while not predicate():
            self.changed.clear()
            await self.changed.wait()

    def take(self, message: dict[str, Any], arrived: float) -> None:
        if message["type"] == "snapshot":
            self.last_seq = message["last_seq"]
            return
        if message["type"] != "frame" or message["to_seq"] <= self.last_seq:
            return
        if message["from_seq"] > self.last_seq + 1:
            self.gaps += 1
        self.last_seq = message["to_seq"]
        self.frames += 1
        self.sampled_frames += bool(message["sampled"])
        for key, n in message["counts"].items():
            kind, _, arn = key.partition("|")
            self.all_counts[kind] += n
            if kind not in ("delivered", "processed") or arn in self.queues:
                self.counts[kind] += n
        for event in message["events"]:
            kind = event["type"]
            ours = (kind == "delivered" and event["endpoint"] in self.queues) or (
                kind == "processed" and event["queue_arn"] in self.queues
            )
            if ours:
                self.arrivals.setdefault((kind, event["trace_id"]), []).append(arrived)
            elif kind == "resource_changed" and event["kind"] == "workers":
                self.workers_ready.add(event["arn"])
        if self.expected and self.drained_at is None and self.counts["processed"] >= self.expected:
            self.drained_at = arrived


async def follow(ws: Any, viewer: Viewer, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            raw = await asyncio.wait_for(ws.recv(), 0.5)
        except TimeoutError:
            continue
        viewer.take(json.loads(raw), time.monotonic())
        viewer.changed.set()


def baseline_queue(server: FlowdashServer, topic: str, name: str) -> dict[str, str]:
    """One more queue on the topic, without Flowdash workers: a bare boto3 consumer
    reads it, for the same-run baseline (what moto alone takes to hand a copy over)."""
    with server.api() as api:
        response = api.post("/api/queues", json={"name": name})
        response.raise_for_status()
        queue: dict[str, str] = response.json()
        api.post(
            "/api/subscriptions",
            json={"topic_arn": topic, "protocol": "sqs", "endpoint": queue["arn"]},
        ).raise_for_status()
        return queue


class BareConsumer:
    """Long-polls one queue with boto3, as a student's script would, noting when each
    publication's copy arrived (its SNS MessageId is the trace id)."""

    def __init__(self, endpoint: str, queue_url: str) -> None:
        self.sqs = aws_client("sqs", endpoint)
        self.queue_url = queue_url
        self.seen: list[tuple[str, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            now = time.monotonic()
            for message in messages:
                self.seen.append((json.loads(message["Body"])["MessageId"], now))
            if messages:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(messages)
                    ],
                )


@dataclass
class Outcome:
    cell: Cell
    bare_ms: list[float]
    achieved_rate: float
    published: int
    delivered_ms: list[float]
    processed_ms: list[float]
    processed: int
    expected: int
    frames: int
    sampled_frames: int
    gaps: int
    server_cpu: float
    server_rss: float
    publish_seconds: float = 0.0
    #: Server CPU seconds while the publisher ran (the share of a core: / publish_seconds).
    publish_cpu: float = 0.0
    #: From the last publish returning to the last expected ``processed`` at the viewer.
    drain_seconds: float | None = None
    #: Flowdash's own AWS requests during the cell, by ``service.Operation`` (/healthz).
    requests: dict[str, int] = field(default_factory=dict)
    #: Flow events of every kind the viewer was sent during the cell (frames' counts).
    events: int = 0
    #: The machine's 1-minute load average when the cell started.
    load: float = 0.0
    #: How long each publish call took (ms): 10 / its duration bounds the rate reached.
    calls_ms: list[float] = field(default_factory=list)


async def run_cell(server: FlowdashServer, cell: Cell) -> Outcome:
    health = await asyncio.to_thread(server.health)
    if cell.observer is not None and health.get("observer") != cell.observer:
        raise RuntimeError(f"observer {cell.observer} asked, /healthz: {health.get('observer')}")
    topic, queues = await asyncio.to_thread(
        api_topology, server, name=f"lat-{cell.fanout}", fanout=cell.fanout
    )
    baseline = None
    if cell.bare:
        baseline = await asyncio.to_thread(baseline_queue, server, topic, f"lat-{cell.fanout}-bare")
    await engine_sees(
        server, [topic, *([baseline["arn"]] if baseline else []), *(q["arn"] for q in queues)]
    )
    viewer = Viewer(queues={q["arn"] for q in queues})
    ws = await ws_connect(server)
    viewer.take(await until_snapshot(ws), time.monotonic())
    stop = asyncio.Event()
    reader = asyncio.create_task(follow(ws, viewer, stop))
    for queue in queues:
        await asyncio.to_thread(
            workers_set, server, queue["arn"], count=1, min_ms=0, max_ms=0, batch_size=10
        )
    async with asyncio.timeout(30):
        await viewer.until(lambda: {q["arn"] for q in queues} <= viewer.workers_ready)
    await asyncio.sleep(1.0)  # let each worker's first long poll begin
    load = load_1min()
    requests_before = (await asyncio.to_thread(server.health))["aws_requests"]
    before = server.stat()
    consumer = BareConsumer(server.moto_url, baseline["url"]) if baseline else None
    consuming = asyncio.create_task(asyncio.to_thread(consumer.run)) if consumer else None
    viewer.expected = cell.count * cell.fanout
    spy = await profile_start(server, cell) if cell.profile else None
    publisher = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--publish", server.moto_url, topic, str(cell.rate),
        str(cell.count), stdout=subprocess.PIPE,
    )  # fmt: skip
    out, _ = await publisher.communicate()
    if publisher.returncode != 0:
        raise RuntimeError("the publisher failed")
    published_at = server.stat()
    result = json.loads(out)
    returned = {trace: at for trace, at in result["returned"]}
    expected = len(returned) * cell.fanout
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            await viewer.until(lambda: viewer.counts["processed"] >= expected)
    await asyncio.sleep(0.3)
    after = server.stat()
    requests_after = (await asyncio.to_thread(server.health))["aws_requests"]
    requests = Counter(requests_after)
    requests.subtract(requests_before)
    if spy is not None:
        await profile_stop(spy)
    stop.set()
    if consumer is not None:
        consumer.stop.set()
    await reader
    if consuming is not None:
        await consuming
    await ws.close()
    latencies: dict[str, list[float]] = {"delivered": [], "processed": []}
    for (kind, trace), arrivals in viewer.arrivals.items():
        if trace in returned:
            latencies[kind].extend((at - returned[trace]) * 1000 for at in arrivals)
    seen = consumer.seen if consumer else []
    bare = [(at - returned[trace]) * 1000 for trace, at in seen if trace in returned]
    return Outcome(
        cell=cell,
        bare_ms=bare,
        achieved_rate=len(returned) / result["seconds"],
        published=len(returned),
        delivered_ms=latencies["delivered"],
        processed_ms=latencies["processed"],
        processed=viewer.counts["processed"],
        expected=expected,
        frames=viewer.frames,
        sampled_frames=viewer.sampled_frames,
        gaps=viewer.gaps,
        server_cpu=(after.cpu_seconds - before.cpu_seconds),
        server_rss=after.rss_mb,
        publish_seconds=result["seconds"],
        publish_cpu=published_at.cpu_seconds - before.cpu_seconds,
        drain_seconds=viewer.drained_at - result["ended_at"] if viewer.drained_at else None,
        requests={k: v for k, v in requests.items() if v > 0},
        events=sum(viewer.all_counts.values()),
        load=load,
        calls_ms=[c * 1000 for c in result.get("calls", [])],
    )


def table(outcomes: list[Outcome], *, quick: bool) -> Table:
    out = Table(
        title="2. End-to-end latency: publish returned → frame at a websocket client (ms)",
        columns=[
            "rate (msg/s): asked / reached", "fanout", "messages",
            "baseline: bare boto3 consumer p50 / p95 / p99",
            "delivered p50 / p95 / p99", "processed p50 / p95 / p99",
            "samples (delivered, processed)", "processed / expected", "sampled frames",
            "server CPU s", "target", "met?",
        ],
    )  # fmt: skip
    for o in outcomes:
        d, p = o.delivered_ms, o.processed_ms
        target, verdict = "", ""
        if o.cell.rate == 100 and o.cell.fanout == 5 and not o.cell.moto_apart:
            p99 = max(percentile(d, 99), percentile(p, 99))
            complete = o.processed >= o.expected
            # A cell the machine could not drive at the asked rate says nothing about it.
            driven = o.achieved_rate >= RATE_REACHED * o.cell.rate
            met = complete and driven and p99 < TARGET_MS
            target = "p99 < 250 ms"
            verdict = out.target(
                f"p99 < 250 ms at 100 msg/s, fanout 5 (worst p99 {fmt(p99)} ms"
                f"{'' if complete else ', not every message processed'}"
                f"{'' if driven else f', but only {o.achieved_rate:.0f} msg/s reached'})",
                met,
            )
        out.row(
            f"{o.cell.rate:g} / {o.achieved_rate:.0f}",
            f"{o.cell.fanout}" + (" (moto in its own process)" if o.cell.moto_apart else ""),
            o.published,
            " / ".join(fmt(percentile(o.bare_ms, q)) for q in (50, 95, 99)),
            " / ".join(fmt(percentile(d, q)) for q in (50, 95, 99)),
            " / ".join(fmt(percentile(p, q)) for q in (50, 95, 99)),
            f"{len(d):,}, {len(p):,}",
            f"{o.processed:,} / {o.expected:,}",
            f"{o.sampled_frames} of {o.frames}" + (f", {o.gaps} gaps" if o.gaps else ""),
            f"{o.server_cpu:.1f}",
            target,
            verdict,
        )
    cells = ", ".join(f"{c.rate:g}x{c.fanout}" for c in (QUICK if quick else FULL))
    out.notes = [
        f"Cells run (rate x fanout): {cells}. "
        + (
            "--quick: two cells only."
            if quick
            else "Duration per cell: 15 s at 10 msg/s, 10 s at 100, 3 s at 1,000 (scaled down "
            "from a longer run to keep the matrix near 10 minutes)."
        ),
        "One worker per queue, 0 ms processing; a fresh server per cell; publish by boto3 "
        "straight to the embedded moto (PublishBatch(10) above 20 msg/s).",
        "Baseline (same run, same server): one more queue on the topic, read by a bare boto3 "
        "long-poll loop (receive 10, delete) in this process: publish returned -> copy in "
        "hand. It is what moto itself takes under the same load; Flowdash's figures add the "
        "tap or worker round trip, the engine and the frame interval. A negative baseline: "
        "the copy was in hand before the PublishBatch call that sent it had returned.",
        "'moto in its own process': the same cell with FLOWDASH_BACKEND=endpoint and a moto "
        "server (fast path on) in a second process; by default moto, Daphne and the engine "
        "share one process and one GIL.",
        f"'processed / expected' below 100% means the backlog was not consumed within "
        f"{DRAIN_SECONDS:.0f} s of the last publish: the cell saturated this machine.",
        "Sampled frames carry whole journeys of ≤ 25 messages: percentiles there rest on "
        "the sample (the 'samples' column).",
    ]
    return out


async def run_all(cells: list[Cell], env: dict[str, str] | None = None) -> list[Outcome]:
    outcomes = []
    for cell in cells:
        progress(
            f"latency: {cell.rate:g} msg/s, fanout {cell.fanout}, {cell.count} messages"
            + (f", observer {cell.observer}" if cell.observer else "")
            + (f", round {cell.round}" if cell.round else "")
            + (" (profiled)" if cell.profile else "")
        )
        if cell.moto_apart:
            with (
                moto_process() as url,
                flowdash_server(
                    FLOWDASH_BACKEND="endpoint", FLOWDASH_AWS_ENDPOINT_URL=url
                ) as server,
            ):
                server.moto_url = url
                outcomes.append(await run_cell(server, cell))
            continue
        settings = {**(env or {})}
        if cell.observer:
            settings["FLOWDASH_OBSERVER"] = cell.observer
        with flowdash_server(**settings) as server:
            outcomes.append(await run_cell(server, cell))
    return outcomes


def run(*, quick: bool) -> list[Table]:
    outcomes = asyncio.run(run_all(QUICK if quick else FULL))
    return [table(outcomes, quick=quick)]


# --- --observer: the 100 x 5 cell with the embedded observer and with the outside path
#
# ``make run``'s configuration (embedded backend, FLOWDASH_OBSERVER=inside) against the
# same with FLOWDASH_OBSERVER=outside (taps and depth samples) as the same-run
# baseline. No bare queue: the topic has exactly five subscribed queues, each with one
# 0 ms Flowdash worker. Rounds alternate ABBA on fresh servers. A capacity cell per
# observer asks for 1,000 msg/s for 3 s: the rate it reaches is what this machine can
# drive at fanout 5 in that configuration.

OBS_RATE, OBS_FANOUT = 100, 5
#: Reached counts as "≥ 100 msg/s" from this share of the asked rate (timer rounding).
OBS_REACHED = 0.99


def obs_cells(*, quick: bool, rounds: int | None, profile: bool, capacity: bool) -> list[Cell]:
    seconds = 5 if quick else 10
    rounds = rounds or (1 if quick else 2)
    cells: list[Cell] = []
    for n in range(1, rounds + 1):
        pair = [
            Cell(OBS_RATE, OBS_FANOUT, seconds, observer=o, bare=False, round=n)
            for o in ("inside", "outside")
        ]
        cells += pair if n % 2 else pair[::-1]
    if capacity:
        cells += [Cell(1000, OBS_FANOUT, 3, observer=o, bare=False) for o in ("inside", "outside")]
    if profile:
        cells += [
            Cell(OBS_RATE, OBS_FANOUT, seconds, observer=o, bare=False, profile=True)
            for o in ("inside", "outside")
        ]
    return cells


def obs_table(outcomes: list[Outcome], *, quick: bool) -> Table:
    out = Table(
        title=f"Latency, observer inside vs outside: publish returned → frame at a websocket "
        f"client (ms), fanout {OBS_FANOUT}, one 0 ms worker per queue",
        columns=[
            "observer", "cell", "rate (msg/s): asked / reached", "messages",
            "PublishBatch(10) call ms p50 / p90 / max",
            "delivered p50 / p95 / p99", "processed p50 / p95 / p99", "processed / expected",
            "last processed after the last publish (s)",
            "server CPU while publishing (% of a core)", "server CPU ms per message",
            "flow events per message", "Flowdash's AWS requests per message",
            "gaps", "load (1 min) at start", "target", "met?",
        ],
    )  # fmt: skip
    for o in outcomes:
        c = o.cell
        d, p = o.delivered_ms, o.processed_ms
        kind = f"round {c.round}" if c.round else "capacity" if c.rate > OBS_RATE else ""
        if c.profile:
            kind = "profiled (py-spy attached)"
        target, verdict = "", ""
        if c.round:
            p99 = max(percentile(d, 99), percentile(p, 99))
            complete = o.processed >= o.expected
            driven = o.achieved_rate >= OBS_REACHED * c.rate
            target = "≥ 100 msg/s reached, p99 < 250 ms"
            label = f"observer {c.observer}, round {c.round}"
            verdict = " / ".join(
                [
                    out.target(
                        f"{label}: {o.achieved_rate:.0f} msg/s reached of {c.rate:g}", driven
                    ),
                    out.target(
                        f"{label}: p99 {fmt(p99)} ms"
                        + (
                            ""
                            if complete
                            else f", only {o.processed:,} of {o.expected:,} processed"
                        ),
                        complete and p99 < TARGET_MS,
                    ),
                ]
            )
        out.row(
            c.observer, kind,
            f"{c.rate:g} / {o.achieved_rate:.0f}",
            o.published,
            " / ".join(fmt(percentile(o.calls_ms, q)) for q in (50, 90, 100)),
            " / ".join(fmt(percentile(d, q)) for q in (50, 95, 99)),
            " / ".join(fmt(percentile(p, q)) for q in (50, 95, 99)),
            f"{o.processed:,} / {o.expected:,}",
            "-" if o.drain_seconds is None else f"{o.drain_seconds:.2f}",
            f"{o.publish_cpu / o.publish_seconds:.0%}" if o.publish_seconds else "-",
            f"{o.server_cpu / max(1, o.published) * 1000:.1f}",
            f"{o.events / max(1, o.published):.1f}",
            f"{sum(o.requests.values()) / max(1, o.published):.2f} ("
            + ", ".join(f"{k.split('.', 1)[1]} {v / max(1, o.published):.2f}"
                        for k, v in sorted(o.requests.items(), key=lambda kv: -kv[1])[:3])
            + ")",
            o.gaps, f"{o.load:.1f}",
            target, verdict,
        )  # fmt: skip
    out.notes = [
        "Each cell: a fresh `manage.py serve` (embedded backend, default settings but "
        "FLOWDASH_OBSERVER), a topic with five queues made through the API, one worker per "
        "queue (count 1, 0 ms, batch 10); a publisher process publishes with boto3 straight "
        "to the embedded moto (PublishBatch(10), paced to the asked rate); a websocket "
        "client follows /ws/flow/." + (" --quick: one round of 5 s." if quick else
                                       " 10 s per round cell."),
        "Latency: arrival of the frame carrying the event minus the return of the publish "
        "call (CLOCK_MONOTONIC, both processes). delivered: the copy is in a worker's queue "
        "(inside: the broker reported it; outside: a tap or a worker saw it); processed: a "
        "worker deleted it.",
        "PublishBatch(10) call: how long each of the publisher's calls took; one publisher "
        "calls one at a time, so 10 / its duration bounds the rate it reaches.",
        "Capacity cells ask for 1,000 msg/s for 3 s: the rate reached is the most this "
        "machine drives at fanout 5 with that observer (their latencies are of a backlog).",
        "Server CPU while publishing: CPU seconds of the server process from the first to "
        "the last publish over that time; per message: the whole cell's server CPU (until "
        "every copy was processed) per publication.",
    ]  # fmt: skip
    if any(o.cell.profile for o in outcomes):
        out.notes.append(
            "Profiled cells ran with py-spy attached (100 Hz, GIL holders only), so they are "
            "slower; their profiles are in bench/results/profiles/."
        )
    return out


def obs_run(
    *,
    quick: bool,
    rounds: int | None,
    profile: bool,
    capacity: bool,
    env: dict[str, str] | None = None,
) -> list[Table]:
    cells = obs_cells(quick=quick, rounds=rounds, profile=profile, capacity=capacity)
    outcomes = asyncio.run(run_all(cells, env))
    order = {"inside": 0, "outside": 1}
    outcomes.sort(key=lambda o: (order.get(o.cell.observer or "", 2), o.cell.profile,
                                 o.cell.rate, o.cell.round))  # fmt: skip
    return [obs_table(outcomes, quick=quick)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two cells (~1 min)")
    parser.add_argument("--record", action="store_true", help="append to bench/results/flow.md")
    parser.add_argument(
        "--observer", action="store_true",
        help="100 msg/s x fanout 5, observer inside vs outside (~2.5 min; --quick ~1 min)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, help="--observer: rounds per observer (2)")
    parser.add_argument(
        "--no-capacity", action="store_true", help="--observer: skip the 1,000 msg/s cells"
    )
    parser.add_argument(
        "--profile", action="store_true",
        help="--observer: one more cell per observer with py-spy attached to the server "
        "(profiles in bench/results/profiles/)",
    )  # fmt: skip
    server_env_argument(parser)
    parser.add_argument(
        "--summarize", metavar="RAW", help="print the summary of a py-spy raw profile (.txt[.gz])"
    )
    parser.add_argument("--publish", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--moto", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.moto:
        moto_serve()
        return
    if args.summarize:
        print(profile_summary(Path(args.summarize)), end="")
        return
    if args.publish:
        endpoint, topic, rate, count = args.publish
        publish(endpoint, topic, float(rate), int(count))
        return
    if args.observer:
        env = server_env(args)
        tables = obs_run(quick=args.quick, rounds=args.rounds, profile=args.profile,
                         capacity=not (args.no_capacity or args.quick), env=env)  # fmt: skip
        server_env_note(tables, env)
        emit(tables, record=args.record, header="latency.py --observer")
        return
    emit(run(quick=args.quick), record=args.record, header="latency.py")


if __name__ == "__main__":
    main()
