"""Benchmark 5, the event log: storing 1,000,000 flow events, and staying bounded.

The flow bus keeps every flow event in the database (``FlowEventRecord``), in
one ``events_store`` batch every 0.5 s, and every 60 s ``events_prune`` deletes
all but the newest ``FLOWDASH_EVENT_RETENTION`` (200,000) rows. This benchmark
calls those two functions as the bus does, on a fresh database, for 1,000,000
events of realistic shape (per message: published, 3 x delivered, received,
processed; plus depth samples), and measures:

- the insert rate the database sustains (events/s of ``events_store`` time), and
  how much of each 0.5 s persist interval a batch takes at the event rate used;
- prune time (while it runs, the bus's writes wait: SQLite has one writer);
- rows, database size and this process's RSS over the run: all must level off.

To run a million events in minutes instead of hours, time is simulated: events
"arrive" at 2,000 a second (about what one engine emits at its busiest here,
bench/latency.py and bench/viewers.py), so a batch holds 1,000 events and a prune
runs every 120,000. The database work is real and timed by the wall clock.
Both SQLite (the default) and PostgreSQL (``DATABASE_URL``, a throwaway cluster
of the Debian packages) are measured, each in its own process.

    .venv/bin/python bench/event_log.py [--quick] [--record]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    Table,
    base_env,
    emit,
    postgres_server,
    proc_stat,
    progress,
)

SIM_RATE = 2_000  # events per simulated second
PERSIST_INTERVAL = 0.5  # dashboard.flowbus.PERSIST_INTERVAL
PRUNE_EVERY = 60.0  # seconds, as dashboard.flowbus._persist does
RETENTION = 200_000  # dashboard.settings.FLOWDASH_EVENT_RETENTION's default
FANOUT = 3


def measure(total: int) -> dict[str, Any]:
    """Run in a child process whose environment names the database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from dashboard.flowbus import events_prune, events_store
    from dashboard.models import FlowEventRecord
    from messaging.events import Delivered, Depth, FlowEmitter, Processed, Published, Received

    clock = [1_800_000_000.0]
    emitter = FlowEmitter(start_seq=1, clock=lambda: clock[0])
    batch: list[Any] = []
    emitter.subscribe(batch.append)
    topic = "arn:aws:sns:us-east-1:123456789012:orders"
    queues = [f"arn:aws:sqs:us-east-1:123456789012:orders-{n}" for n in range(FANOUT)]
    body = '{"order": %d, "items": ["book", "pen"], "note": "a demo message body"}'

    def one_message(n: int) -> None:
        trace = f"{n:08d}-0000-4000-8000-{n:012d}"
        emitter.emit(Published, trace_id=trace, topic_arn=topic, body=body % n, source="flowdash")
        for q in queues:
            sub = f"{topic}:{q[-8:]}"
            emitter.emit(Delivered, trace_id=trace, topic_arn=topic, subscription_arn=sub,
                         protocol="sqs", endpoint=q)  # fmt: skip
        q = queues[n % FANOUT]
        emitter.emit(Received, trace_id=trace, queue_arn=q, worker="w#1", message_id=trace,
                     receive_count=1)  # fmt: skip
        emitter.emit(Processed, trace_id=trace, queue_arn=q, worker="w#1", message_id=trace,
                     duration_ms=12)  # fmt: skip
        if n % 50 == 0:
            emitter.emit(Depth, queue_arn=q, visible=n % 97, in_flight=3, delayed=0)

    per_batch = int(SIM_RATE * PERSIST_INTERVAL)
    batches_per_prune = int(PRUNE_EVERY / PERSIST_INTERVAL)
    store_times: list[float] = []
    prune_times: list[float] = []
    rows_after_prune: list[int] = []
    rss: list[tuple[int, float]] = []
    stored = 0
    n = 0
    started = time.perf_counter()
    while stored < total:
        while len(batch) < per_batch:
            one_message(n)
            n += 1
        events, batch[:] = batch[:per_batch], batch[per_batch:]
        clock[0] += PERSIST_INTERVAL
        t0 = time.perf_counter()
        events_store(events)
        store_times.append(time.perf_counter() - t0)
        stored += len(events)
        if len(store_times) % batches_per_prune == 0:
            t0 = time.perf_counter()
            events_prune()
            prune_times.append(time.perf_counter() - t0)
            rows_after_prune.append(FlowEventRecord.objects.count())
        if len(store_times) % 50 == 0:
            rss.append((stored, proc_stat(os.getpid()).rss_mb))
    wall = time.perf_counter() - started
    rows = FlowEventRecord.objects.count()
    if connection.vendor == "sqlite":
        path = Path(connection.settings_dict["NAME"])
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size(%s)", [FlowEventRecord._meta.db_table])
            size = cursor.fetchone()[0] / 2**20
    return {
        "vendor": connection.vendor,
        "events": stored,
        "wall": wall,
        "store_seconds": sum(store_times),
        "batch_ms_median": statistics.median(store_times) * 1000,
        "batch_ms_p99": sorted(store_times)[int(len(store_times) * 0.99)] * 1000,
        "prunes": len(prune_times),
        "prune_max_s": max(prune_times, default=0.0),
        "rows_max_after_prune": max(rows_after_prune, default=rows),
        "rows_end": rows,
        "db_mb": size,
        "rss": rss,
    }


def child(database_url: str | None, total: int) -> dict[str, Any]:
    var_dir = tempfile.mkdtemp(prefix="flowdash-bench-events-")
    env = base_env(FLOWDASH_VAR_DIR=var_dir)
    if database_url:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(total)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"event log child failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    subprocess.run(["rm", "-rf", var_dir], check=False)
    return result


def table(results: list[dict[str, Any]], *, total: int) -> Table:
    out = Table(
        title=f"5. Event log: {total:,} flow events through events_store / events_prune",
        columns=[
            "database", "insert rate (events/s)", "batch of 1,000: median / p99 ms",
            "share of the 0.5 s interval", "prunes, longest (s)", "rows: max after prune / end",
            "DB size MB (end)", "RSS MB: at 10% / at end", "target", "met?",
        ],
    )  # fmt: skip
    bound = RETENTION + int(PRUNE_EVERY * SIM_RATE)
    for r in results:
        rate = r["events"] / r["store_seconds"]
        rss = r["rss"]
        early = next((mb for stored, mb in rss if stored >= total // 10), rss[0][1])
        late = rss[-1][1]
        rows_ok = r["rows_end"] <= bound and r["rows_max_after_prune"] <= RETENTION + 1
        memory_ok = late - early < 50
        verdict = " / ".join(
            [
                out.target(f"{r['vendor']}: rows bounded ({r['rows_end']:,} ≤ {bound:,})", rows_ok),
                out.target(f"{r['vendor']}: RSS flat ({late - early:+.0f} MB)", memory_ok),
            ]
        )
        out.row(
            r["vendor"],
            f"{rate:,.0f}",
            f"{r['batch_ms_median']:.0f} / {r['batch_ms_p99']:.0f}",
            f"{r['batch_ms_median'] / (PERSIST_INTERVAL * 1000):.0%}",
            f"{r['prunes']}, {r['prune_max_s']:.1f}",
            f"{r['rows_max_after_prune']:,} / {r['rows_end']:,}",
            f"{r['db_mb']:.0f}",
            f"{early:.0f} / {late:.0f}",
            "rows ≤ retention + 1 prune interval; RSS growth after 10% < 50 MB",
            verdict,
        )
    out.notes = [
        f"Simulated arrival: {SIM_RATE:,} events/s, so a 0.5 s batch holds "
        f"{int(SIM_RATE * PERSIST_INTERVAL):,} events and a prune (every 60 s) comes every "
        f"{int(SIM_RATE * PRUNE_EVERY):,} events; retention {RETENTION:,} rows.",
        "Insert rate = events / time inside events_store (bulk_create, one transaction "
        "per batch). SQLite: a file in a temp dir, default journal; PostgreSQL 15: a "
        "throwaway local cluster, fsync on.",
    ]
    return out


def run(*, quick: bool) -> list[Table]:
    total = 100_000 if quick else 1_000_000
    results = []
    progress(f"event_log: SQLite, {total:,} events")
    results.append(child(None, total))
    try:
        with postgres_server() as url:
            progress(f"event_log: PostgreSQL, {total:,} events")
            results.append(child(url, total))
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        progress(f"event_log: PostgreSQL skipped: {exc}")
    return [table(results, total=total)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 events (~1 min)")
    parser.add_argument("--record", action="store_true", help="append to bench/results/flow.md")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)), flush=True)
        return
    emit(run(quick=args.quick), record=args.record, header="event_log.py")


if __name__ == "__main__":
    main()
