"""Run every Flowdash benchmark, print every table, and record them.

``make bench`` calls this. Each benchmark runs in its own process, one after the
other (they measure CPU and latency, so they must not overlap), and starts its
own servers on free loopback ports. A benchmark that fails does not stop the
others: its error goes into the record in place of its table.

The tables are appended to bench/results/flow.md with the date, the machine and
its load average at the start (other processes on the machine skew every
figure; the load says how much). ``bench/embedded_fastpath.py`` (the moto fast
path's own benchmark) runs with ``--quick`` when present; its full results live
in bench/RESULTS.md.

    .venv/bin/python bench/run_all.py            # everything, ~37 min on 2 cores
    .venv/bin/python bench/run_all.py --quick    # a smoke run, ~14 min
    .venv/bin/python bench/run_all.py --only latency viewers
    .venv/bin/python bench/run_all.py --only observer_viewers observer_latency observer_cost

The embedded observer's benchmarks (``observer_*``) are modes of viewers.py and
latency.py (``--observer``) and bench/observer_cost.py.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import machine, progress, record_append

BENCH = Path(__file__).resolve().parent
#: In the order of the issue: overhead, latency, viewers, AWS cost, event log, browser.
BENCHMARKS = [
    "overhead", "latency", "viewers", "aws_cost", "event_log", "browser", "push_class",
    "watch_cost",
]  # fmt: skip
#: The embedded observer's benchmarks: a name -> the script it runs and its arguments.
OBSERVER = {
    "observer_viewers": ("viewers", ["--observer"]),
    "observer_latency": ("latency", ["--observer"]),
    "observer_cost": ("observer_cost", []),
}
FASTPATH = "embedded_fastpath"


def load_average() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_one(name: str, *, quick: bool) -> tuple[str, bool, float]:
    """Run ``bench/<name>.py``; its stdout (the tables) or, on failure, its error.

    Its stderr (progress lines) is passed through as it comes and its tail kept."""
    script, extra = OBSERVER.get(name, (name, []))
    args = [sys.executable, str(BENCH / f"{script}.py"), *extra]
    if quick or name == FASTPATH:
        args.append("--quick")
    started = time.monotonic()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tail: deque[str] = deque(maxlen=15)

    def relay() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            sys.stderr.write(line)
            tail.append(line.rstrip())

    relay_thread = threading.Thread(target=relay, daemon=True)
    relay_thread.start()
    assert process.stdout is not None
    out = process.stdout.read()
    process.wait()
    relay_thread.join()
    seconds = time.monotonic() - started
    if process.returncode == 0:
        return out.strip(), True, seconds
    error = "\n".join(tail)
    return f"### {name}.py FAILED (exit {process.returncode})\n\n```\n{error}\n```", False, seconds


def summary(sections: list[str]) -> str:
    """Every table's verdict lines, gathered: which targets this run met and missed."""
    met: list[str] = []
    missed: list[str] = []
    for text in sections:
        for line in text.splitlines():
            if line.startswith("Targets met: "):
                met.extend(line.removeprefix("Targets met: ").rstrip(".").split("; "))
            elif line.startswith("Targets **missed**: "):
                missed.extend(line.removeprefix("Targets **missed**: ").rstrip(".").split("; "))
    lines = ["### Targets in this run", ""]
    lines += [f"- met: {m}" for m in met]
    lines += [f"- **missed**: {m}" for m in missed]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark's smoke mode")
    parser.add_argument("--only", nargs="+", choices=[*BENCHMARKS, *OBSERVER, FASTPATH])
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    fastpath = [FASTPATH] if (BENCH / f"{FASTPATH}.py").exists() else []
    names = args.only or [*BENCHMARKS, *OBSERVER, *fastpath]
    started = datetime.datetime.now().astimezone()
    header = (
        f"## Run of {started:%Y-%m-%d %H:%M %Z} ({'--quick' if args.quick else 'full'}"
        f"{', only ' + ', '.join(names) if args.only else ''})\n\n"
        f"Machine: {machine()}. Load average at the start: {load_average()} "
        "(1 / 5 / 15 min; the machine may be shared).\n"
    )
    sections: list[str] = []
    failed: list[str] = []
    for name in names:
        progress(f"run_all: {name}")
        text, ok, seconds = run_one(name, quick=args.quick)
        if name == FASTPATH:
            text = f"### embedded_fastpath.py --quick\n\n{text}"
        sections.append(f"{text}\n\n_{name}: {seconds:.0f} s; load average after: "
                        f"{load_average()}_\n")  # fmt: skip
        print(sections[-1], flush=True)
        if not ok:
            failed.append(name)
    sections.append(summary(sections))
    print(sections[-1], flush=True)
    if not args.no_record:
        record_append(header + "\n" + "\n".join(sections))
        progress(f"run_all: recorded in {Path('bench/results/flow.md')}")
    if failed:
        progress(f"run_all: failed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
