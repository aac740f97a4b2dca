"""Benchmark: a class of phones as push devices ("Mobile push step by step", #19).

A fresh ``manage.py serve`` (default settings: one process, in-memory channel layer,
embedded moto); an instructor starts a class with the ``push`` scenario and loads it;
N simulated participants join as the phone page does: the join form over HTTP (their
own session cookie and CSRF token), the participant socket ``/ws/class/`` (real
websockets, the page's Origin), then ``POST /api/classroom/me/device`` with a token
they generated. Then the instructor publishes to the class topic through the
presenter's API, R times, and each time the benchmark records when every phone's
socket delivered the notification frame:

- time until the last phone has it (from just before the publish request), and the
  median phone; the target is the last phone within 1 s;
- the same-run baseline: the publish request's own duration (SNS Publish into moto,
  fanning out to every device, answered over HTTP), and a bare boto3 Publish of the
  same structured message straight to the embedded moto (no Flowdash in the path):
  what is left above them is Flowdash's delivery to the phones;
- server memory (RSS) before the class, after the joins, and its peak;
- every phone got every notification, in order (sequence numbers 1..R).

    .venv/bin/python bench/push_class.py [--phones 60] [--rounds 5] [--quick] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    FlowdashServer,
    Table,
    emit,
    flowdash_server,
    fmt,
    load_1min,
    login_client,
    percentile,
    progress,
)

TARGET_S = 1.0
RESULTS_FILE = Path(__file__).resolve().parent / "results" / "push_class.md"


@dataclass
class Phone:
    name: str
    client: httpx.AsyncClient
    ws: Any = None
    platform: str = "GCM"
    arrivals: dict[int, float] = field(default_factory=dict)  #: seq -> arrival (epoch s)
    #: Set on every notification this phone gets (shared: the benchmark waits on it).
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    seqs: list[int] = field(default_factory=list)

    async def join(self, code: str) -> None:
        await self.client.get("/class/join/")
        response = await self.client.post(
            "/class/join/",
            data={"code": code, "display_name": self.name,
                  "csrfmiddlewaretoken": self.client.cookies["csrftoken"]},
        )  # fmt: skip
        if response.status_code != 302:
            raise RuntimeError(f"{self.name} could not join: {response.status_code}")

    async def connect(self, server: FlowdashServer) -> None:
        from websockets.asyncio.client import connect

        cookie = f"sessionid={self.client.cookies['sessionid']}"
        self.ws = await connect(
            server.base_url.replace("http://", "ws://") + "/ws/class/",
            origin=server.origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie}, proxy=None, open_timeout=60,
        )  # fmt: skip
        snapshot = json.loads(await self.ws.recv())
        if snapshot["type"] != "snapshot" or not snapshot["me"]["push"]:
            raise RuntimeError(f"{self.name}: unexpected first frame {snapshot['type']}")

    async def register(self) -> None:
        token = secrets.token_hex(32) if self.platform == "APNS" else secrets.token_urlsafe(120)
        response = await self.client.post(
            "/api/classroom/me/device", json={"token": token, "platform": self.platform},
            headers={"X-CSRFToken": self.client.cookies["csrftoken"]},
        )  # fmt: skip
        if response.status_code != 200:
            raise RuntimeError(f"{self.name} could not register: {response.text[:300]}")

    async def listen(self) -> None:
        async for raw in self.ws:
            now = time.time()
            message = json.loads(raw)
            if message["type"] == "frame":
                for event in message["events"]:
                    if event["type"] == "notification":
                        self.arrivals[event["seq"]] = now
                        self.seqs.append(event["seq"])
                        self.arrived.set()


def rss_mb(server: FlowdashServer) -> float:
    return server.stat().rss_mb


async def run(phones_n: int, rounds: int) -> list[Table]:
    with flowdash_server() as server:
        base = server.base_url
        rss_start = rss_mb(server)
        load = load_1min()
        teacher = login_client(base)
        csrf = {"X-CSRFToken": teacher.cookies["csrftoken"]}
        form = {"scenario": "push", "title": "bench", "csrfmiddlewaretoken": csrf["X-CSRFToken"]}
        started = teacher.post("/class/start", data=form)
        code = started.headers["location"].split("?")[0].rstrip("/").split("/")[-1]
        loaded = teacher.post(
            f"/api/classroom/sessions/{code}/scenario", json={"slug": "push"}, headers=csrf
        )
        loaded.raise_for_status()
        teacher.post(f"/api/classroom/sessions/{code}/push/setup", headers=csrf).raise_for_status()
        progress(f"class {code} loaded; {phones_n} phones joining")

        limits = httpx.Limits(max_connections=4)
        arrived = asyncio.Event()
        phones = [
            Phone(name=f"P{i:03d}", platform="APNS" if i % 3 == 0 else "GCM",
                  client=httpx.AsyncClient(base_url=base, timeout=60, limits=limits),
                  arrived=arrived)
            for i in range(phones_n)
        ]  # fmt: skip
        joined_at = time.monotonic()
        for batch in range(0, phones_n, 10):  # ten at a time, as a class arrives
            group = phones[batch : batch + 10]
            await asyncio.gather(*(p.join(code) for p in group))
            await asyncio.gather(*(p.connect(server) for p in group))
            await asyncio.gather(*(p.register() for p in group))
        join_seconds = time.monotonic() - joined_at
        listeners = [asyncio.create_task(p.listen()) for p in phones]
        rss_joined = rss_mb(server)
        progress(f"{phones_n} phones registered in {join_seconds:.1f} s")

        # The topic's ARN, for the baseline's bare boto3 Publish.
        sns = server.boto("sns")
        topic = next(
            t["TopicArn"]
            for t in sns.list_topics()["Topics"]
            if t["TopicArn"].endswith("sc-push-news")
        )
        gcm = json.dumps({"notification": {"title": "bench", "body": "x"}})
        structured = json.dumps(
            {"default": "bench: x", "GCM": gcm, "APNS": json.dumps({"aps": {"alert": "x"}})}
        )

        last_delays, median_delays, request_s, bare_s = [], [], [], []
        peak = rss_joined
        for r in range(1, rounds + 1):
            await asyncio.sleep(1.0)
            t0 = time.time()
            response = await asyncio.to_thread(
                teacher.post, f"/api/classroom/sessions/{code}/push/publish",
                json={"title": "Round", "body": f"notification {r}"}, headers=csrf,
            )  # fmt: skip
            request_s.append(time.time() - t0)
            response.raise_for_status()
            # Each round's bare publish (the baseline) reaches the phones too and takes the
            # next number: Flowdash's publish of round r is notification 2r - 1.
            seq = 2 * r - 1
            deadline = time.time() + 10
            while time.time() < deadline and not all(seq in p.arrivals for p in phones):
                arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), max(0.0, deadline - time.time()))
            got = [p.arrivals[seq] - t0 for p in phones if seq in p.arrivals]
            missing = [p for p in phones if seq not in p.arrivals]
            if missing:
                progress(
                    f"round {r}: {len(missing)} phones without notification {seq}, e.g. "
                    + ", ".join(f"{p.name} has {sorted(p.arrivals)}" for p in missing[:3])
                )
            last_delays.append(max(got) if len(got) == phones_n else float("inf"))
            median_delays.append(statistics.median(got) if got else float("nan"))
            peak = max(peak, rss_mb(server))
            # Baseline: the same fanout through moto alone (the phones get these too; they
            # are not counted: they carry the next sequence numbers, skipped below).
            b0 = time.perf_counter()
            await asyncio.to_thread(
                sns.publish, TopicArn=topic, Message=structured, MessageStructure="json"
            )
            bare_s.append(time.perf_counter() - b0)
            await asyncio.sleep(0.5)
            progress(f"round {r}: last phone {last_delays[-1] * 1000:.0f} ms")
        for task in listeners:
            task.cancel()
        for p in phones:
            await p.ws.close()
            await p.client.aclose()
        teacher.close()
        complete = all(sorted(p.seqs) == list(range(1, 2 * rounds + 1)) for p in phones)

    table = Table(
        title=f"Push class: {phones_n} phones (websocket + HTTP), {rounds} publishes",
        columns=["measure", "median", "worst", "target"],
        notes=[
            f"load (1 min) at start: {load:.2f}; joins and registrations: {join_seconds:.1f} s",
            "baseline (same run): the publish request itself (Flowdash API → SNS Publish into the "
            "embedded moto, fanning out to every device), and a bare boto3 Publish of the same "
            "structured message straight to moto",
            f"server RSS: {rss_start:.0f} MB at start, {rss_joined:.0f} MB with the class joined, "
            f"{peak:.0f} MB peak during the publishes (+{peak - rss_start:.0f} MB)",
            f"every phone got every notification in order (seq 1..{2 * rounds}): {complete}",
        ],
    )
    worst = max(last_delays)
    verdict = table.target(f"last of {phones_n} phones within {TARGET_S:.0f} s", worst <= TARGET_S)
    table.row(
        "last phone has it (s)", fmt(statistics.median(last_delays), 3), fmt(worst, 3), verdict
    )
    table.row(
        "median phone has it (s)",
        fmt(statistics.median(median_delays), 3),
        fmt(max(median_delays), 3),
        "",
    )
    table.row(
        "baseline: publish request (s)",
        fmt(statistics.median(request_s), 3),
        fmt(max(request_s), 3),
        "",
    )
    table.row(
        "baseline: bare boto3 Publish (s)",
        fmt(statistics.median(bare_s), 3),
        fmt(max(bare_s), 3),
        "",
    )
    table.row("p90 of per-round last phone (s)", fmt(percentile(last_delays, 90), 3), "", "")
    table.row("all notifications, in order", str(complete), "", table.target("none lost", complete))
    return [table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phones", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--record", action="store_true", help=f"append to {RESULTS_FILE}")
    parser.add_argument("--quick", action="store_true", help="the target class, 3 publishes")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 3
    tables = asyncio.run(run(args.phones, args.rounds))
    emit(tables, record=False, header="push class")
    if args.record:
        from bench.harness import machine

        RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS_FILE.open("a") as out:
            out.write(
                f"## push class ({time.strftime('%Y-%m-%d %H:%M')})\n\nMachine: {machine()}\n\n"
            )
            out.write("\n".join(t.render() for t in tables) + "\n")


if __name__ == "__main__":
    main()
