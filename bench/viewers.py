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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
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
    percentile,
    poll,
    progress,
    queues_empty,
    quiet_seq,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 50 viewers only")
    parser.add_argument("--record", action="store_true", help="append to bench/results/flow.md")
    args = parser.parse_args()
    emit(run(quick=args.quick), record=args.record, header="viewers.py")


if __name__ == "__main__":
    main()
