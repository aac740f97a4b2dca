"""What every Flowdash benchmark shares: real servers in subprocesses, and the table.

Benchmarks drive Flowdash from outside, as a browser, a script or the AWS CLI
would: over HTTP, websockets and boto3 against the embedded moto server that the
Flowdash process hosts. Each server gets its own loopback ports and its own
``FLOWDASH_VAR_DIR`` (a copy of one database migrated once per benchmark
process, with the instructor and an API token already in it), so runs do not
share state and startup stays around two seconds.

CPU and memory are read from ``/proc/<pid>``: the server's own process, which in
the default single-process setup holds Daphne, the flow engine and moto together.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import datetime
import inspect
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "flow.md"
USERNAME = "instructor"
PASSWORD = "bench-password-not-secret"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Environment a benchmark's servers must not inherit from the shell that runs it.
SCRUBBED_PREFIXES = ("FLOWDASH_", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")


def free_port() -> int:
    """A loopback port nobody listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(**extra: str) -> dict[str, str]:
    """The parent's environment without Flowdash settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update(
        PYTHONUNBUFFERED="1",
        FLOWDASH_LOG_LEVEL="WARNING",
        FLOWDASH_INSTRUCTOR_USERNAME=USERNAME,
        FLOWDASH_INSTRUCTOR_PASSWORD=PASSWORD,
    )
    env.update(extra)
    return env


def manage(*args: str, env: Mapping[str, str]) -> str:
    """Run ``manage.py`` to completion; its stdout, or the whole output in the error."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass(frozen=True, slots=True)
class Template:
    """A migrated var dir with the instructor and an API token, copied for each server."""

    path: Path
    token: str


_template: Template | None = None
_template_lock = threading.Lock()


def template() -> Template:
    """Migrate once per benchmark process: each server then starts from a file copy.
    Thread-safe, since benchmarks may start idle servers side by side."""
    global _template
    with _template_lock:
        if _template is None:
            path = Path(tempfile.mkdtemp(prefix="flowdash-bench-template-"))
            atexit.register(shutil.rmtree, path, ignore_errors=True)
            env = base_env(FLOWDASH_VAR_DIR=str(path))
            manage("migrate", "--noinput", env=env)
            manage(
                "shell",
                "-c",
                "from dashboard.instructor import instructor_ensure; instructor_ensure()",
                env=env,
            )
            token = manage("apitoken", USERNAME, "--name", "bench", env=env).strip()
            _template = Template(path=path, token=token)
        return _template


@dataclass(frozen=True, slots=True)
class ProcStat:
    """One reading of a process's CPU time and memory from /proc."""

    cpu_seconds: float
    rss_mb: float
    peak_rss_mb: float


def proc_stat(pid: int) -> ProcStat:
    # Fields after the ")" that ends the command name: utime and stime are 14th and 15th.
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()
    rss = int(status["VmRSS"].split()[0]) / 1024
    peak = int(status["VmHWM"].split()[0]) / 1024
    return ProcStat(cpu_seconds=cpu, rss_mb=rss, peak_rss_mb=peak)


@dataclass
class Process:
    """A subprocess with its log file; stopped with SIGINT, as Ctrl-C would."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stat(self) -> ProcStat:
        return proc_stat(self.pid)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.popen.returncode}:\n{self.log_text()[-4000:]}"
            )

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def spawn(name: str, command: Sequence[str], *, env: Mapping[str, str], log: Path) -> Process:
    with log.open("wb") as out:
        popen = subprocess.Popen(
            list(command), cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )
    return Process(name=name, popen=popen, log=log)


def wait_http(url: str, process: Process, *, timeout: float = 60) -> None:
    """Poll until ``url`` answers, failing early (with the log) if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check_alive()
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered; {process.name} log:\n{process.log_text()[-4000:]}")


@dataclass
class FlowdashServer:
    """One ``manage.py serve`` process: Daphne, the flow engine and embedded moto."""

    process: Process
    base_url: str
    moto_url: str
    var_dir: Path
    token: str
    _session: str | None = field(default=None, repr=False)

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws/flow/"

    @property
    def origin(self) -> str:
        return self.base_url

    def stat(self) -> ProcStat:
        return self.process.stat()

    def api(self) -> httpx.Client:
        """An API client authenticated with a bearer token, as a script would be."""
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )

    def session_cookie(self) -> str:
        """Log in through the login form once; the cookie every websocket client sends."""
        if self._session is None:
            self._session = login(self.base_url)
        return self._session

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.base_url}/healthz", timeout=30).json()
        return result

    def aws_requests(self) -> dict[str, int]:
        counts: dict[str, int] = self.health()["aws_requests"]
        return counts

    def boto(self, service: str) -> Any:
        """A bare boto3 client for the server's embedded moto: the baseline's client."""
        return aws_client(service, self.moto_url)


def aws_client(service: str, endpoint_url: str) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )


def login_client(base_url: str, *, timeout: float = 30) -> httpx.Client:
    """An httpx client logged in through the form, with its CSRF token, as a browser is."""
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=timeout)
    client.get("/login/")
    response = client.post(
        "/login/",
        data={
            "username": USERNAME,
            "password": PASSWORD,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"Referer": f"{base_url}/login/"},
    )
    if response.status_code != 302:
        client.close()
        raise RuntimeError(f"login failed ({response.status_code}): {response.text[:500]}")
    return client


def login(base_url: str) -> str:
    """``sessionid=...`` after logging in through the form."""
    browser = login_client(base_url)
    try:
        return f"sessionid={browser.cookies['sessionid']}"
    finally:
        browser.close()


def keep_logs(var_dir: Path) -> None:
    """A benchmark failed: keep the servers' logs (the var dir is about to go)."""
    kept = Path(tempfile.mkdtemp(prefix="flowdash-bench-failed-"))
    for log in var_dir.glob("*log"):
        shutil.copy2(log, kept / log.name)
    progress(f"server logs kept in {kept}")


@contextmanager
def flowdash_server(**settings: str) -> Iterator[FlowdashServer]:
    """``manage.py serve`` with the embedded backend on free ports, default settings
    unless ``settings`` (FLOWDASH_* variables) says otherwise."""
    tpl = template()
    var_dir = Path(tempfile.mkdtemp(prefix="flowdash-bench-"))
    for name in ("flowdash.sqlite3", "secret-key"):
        shutil.copy2(tpl.path / name, var_dir / name)
    port, moto_port = free_port(), free_port()
    env = base_env(
        FLOWDASH_VAR_DIR=str(var_dir),
        FLOWDASH_BACKEND="embedded",
        FLOWDASH_PORT=str(port),
        FLOWDASH_MOTO_PORT=str(moto_port),
        # The per-user publish limit protects a lecture hall from one student's loop;
        # a benchmark measures the path behind it, so it lifts the limit.
        FLOWDASH_PUBLISH_RATE="1000000",
        FLOWDASH_PUBLISH_BURST="1000000",
    )
    env.update(settings)
    process = spawn("serve", [sys.executable, "manage.py", "serve"], env=env, log=var_dir / "log")
    server = FlowdashServer(
        process=process,
        base_url=f"http://127.0.0.1:{port}",
        moto_url=f"http://127.0.0.1:{moto_port}",
        var_dir=var_dir,
        token=tpl.token,
    )
    try:
        wait_http(f"{server.base_url}/healthz", process)
        yield server
    except BaseException:
        keep_logs(var_dir)
        raise
    finally:
        process.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


@dataclass
class Cluster:
    """Flowdash scaled out as docs/scaling.md shows: Redis, one ``flowwatch`` (the
    engine and the embedded moto server) and several Daphne processes."""

    webs: list[FlowdashServer]
    engine: Process
    redis: Process

    def stat(self) -> ProcStat:
        """CPU and memory of every process of the cluster, added up."""
        stats = [p.stat() for p in (self.engine, self.redis, *(w.process for w in self.webs))]
        return ProcStat(
            cpu_seconds=sum(s.cpu_seconds for s in stats),
            rss_mb=sum(s.rss_mb for s in stats),
            peak_rss_mb=sum(s.peak_rss_mb for s in stats),
        )


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def flowdash_cluster(webs: int = 2, **settings: str) -> Iterator[Cluster]:
    """``redis-server``, ``manage.py flowwatch`` and ``webs`` times ``manage.py serve`` with
    ``FLOWDASH_ENGINE=external``, sharing one SQLite file, on free loopback ports."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    tpl = template()
    var_dir = Path(tempfile.mkdtemp(prefix="flowdash-bench-cluster-"))
    for name in ("flowdash.sqlite3", "secret-key"):
        shutil.copy2(tpl.path / name, var_dir / name)
    redis_port, moto_port = free_port(), free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    env = base_env(
        FLOWDASH_VAR_DIR=str(var_dir),
        FLOWDASH_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0?socket_timeout=15",  # docs/scaling.md
        FLOWDASH_PUBLISH_RATE="1000000",
        FLOWDASH_PUBLISH_BURST="1000000",
    )
    env.update(settings)
    started: list[Process] = []
    try:
        redis = spawn(
            "redis",
            [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(var_dir)],
            env=env, log=var_dir / "redis.log",
        )  # fmt: skip
        started.append(redis)
        deadline = time.monotonic() + 20
        while not redis_answers(redis_port):
            redis.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer")
            time.sleep(0.1)
        engine = spawn(
            "flowwatch",
            [sys.executable, "manage.py", "flowwatch"],
            env={**env, "FLOWDASH_BACKEND": "embedded", "FLOWDASH_MOTO_PORT": str(moto_port)},
            log=var_dir / "flowwatch.log",
        )
        started.append(engine)
        servers = []
        for n in range(webs):
            port = free_port()
            process = spawn(
                f"daphne-{n}",
                [sys.executable, "manage.py", "serve", "--port", str(port)],
                env={**env, "FLOWDASH_ENGINE": "external", "FLOWDASH_BACKEND": "endpoint",
                     "FLOWDASH_AWS_ENDPOINT_URL": moto_url},
                log=var_dir / f"daphne-{n}.log",
            )  # fmt: skip
            started.append(process)
            servers.append(
                FlowdashServer(
                    process=process,
                    base_url=f"http://127.0.0.1:{port}",
                    moto_url=moto_url,
                    var_dir=var_dir,
                    token=tpl.token,
                )
            )
        deadline = time.monotonic() + 60
        while "engine running" not in engine.log_text():
            engine.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"flowwatch did not start:\n{engine.log_text()[-3000:]}")
            time.sleep(0.1)
        for server in servers:
            wait_http(f"{server.base_url}/healthz", server.process)
        yield Cluster(webs=servers, engine=engine, redis=redis)
    except BaseException:
        keep_logs(var_dir)
        raise
    finally:
        for process in reversed(started):
            process.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


# --- topology and workers, set up the way a user would


def workers_set(server: FlowdashServer, queue_arn: str, **spec: Any) -> None:
    """PUT /api/queues/<arn>/workers: stored, then sent to the engine."""
    with server.api() as api:
        response = api.put(f"/api/queues/{queue_arn}/workers", json=spec)
        response.raise_for_status()


def api_topology(
    server: FlowdashServer, *, name: str, fanout: int, **queue_options: Any
) -> tuple[str, list[dict[str, str]]]:
    """A topic with ``fanout`` subscribed queues, made through Flowdash's API as an
    instructor would (so the engine is told at once). Returns the topic ARN and
    ``[{"arn", "url"}]`` per queue; ``engine_sees`` then waits for the engine."""
    with server.api() as api:
        response = api.post("/api/topics", json={"name": name})
        response.raise_for_status()
        topic: str = response.json()["arn"]
        queues = []
        for n in range(fanout):
            response = api.post("/api/queues", json={"name": f"{name}-{n}", **queue_options})
            response.raise_for_status()
            queue = response.json()
            queues.append({"arn": queue["arn"], "url": queue["url"]})
            response = api.post(
                "/api/subscriptions",
                json={"topic_arn": topic, "protocol": "sqs", "endpoint": queue["arn"]},
            )
            response.raise_for_status()
    return topic, queues


async def engine_sees(server: FlowdashServer, arns: Sequence[str], *, within: float = 60) -> None:
    """Wait until the engine's snapshot shows every ARN (topics and queues), asking
    for a resync twice a second: from then on its taps and workers are in place."""
    ws = await ws_connect(server)
    try:
        async with asyncio.timeout(within):
            while True:
                snapshot = await until_snapshot(ws)
                topology = snapshot["topology"]
                known = {t["arn"] for t in topology["topics"]} | {
                    q["arn"] for q in topology["queues"]
                }
                if set(arns) <= known:
                    return
                await asyncio.sleep(0.5)
                await ws.send(json.dumps({"type": "resync"}))
    finally:
        await ws.close()


async def quiet_seq(server: FlowdashServer) -> int:
    """The engine's last sequence number once it stopped moving for a second."""
    last = -1
    while True:
        ws = await ws_connect(server)
        try:
            seq = (await until_snapshot(ws))["last_seq"]
        finally:
            await ws.close()
        if seq == last:
            return seq
        last = seq
        await asyncio.sleep(1.0)


def backlog(sqs: Any, url: str) -> int:
    """Messages still in a queue, visible or in flight, as SQS counts them."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def queues_empty(server: FlowdashServer, queues: list[dict[str, str]]) -> bool:
    sqs = server.boto("sqs")
    return not any(backlog(sqs, queue["url"]) for queue in queues)


def burst_finished(server: FlowdashServer, queues: list[dict[str, str]], batches: int) -> bool:
    """Every PublishBatch of the burst went out and the workers emptied every queue."""
    if server.aws_requests().get("sns.PublishBatch", 0) < batches:
        return False
    return queues_empty(server, queues)


def settle(server: FlowdashServer, *, busy_below: float = 0.15, timeout: float = 20) -> float:
    """Wait until the server's CPU use falls below ``busy_below`` of a core over 0.5 s,
    so that the engine's work left over from one measurement does not slow the next.
    Returns the seconds waited."""
    start = time.monotonic()
    last = server.stat().cpu_seconds
    while time.monotonic() - start < timeout:
        time.sleep(0.5)
        now = server.stat().cpu_seconds
        if (now - last) / 0.5 < busy_below:
            break
        last = now
    return time.monotonic() - start


# --- websocket viewers


FRAME_HEAD = re.compile(rb'"from_seq":\s*(\d+),\s*"to_seq":\s*(\d+)')


async def ws_connect(server: FlowdashServer, *, cookie: str | None = None) -> Any:
    """A logged-in websocket to /ws/flow/ with the page's Origin, proxies off (loopback)."""
    from websockets.asyncio.client import connect

    return await connect(
        server.ws_url,
        origin=server.origin,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie or server.session_cookie()},
        proxy=None,
        max_size=None,
        open_timeout=60,
    )


async def until_snapshot(ws: Any, *, within: float = 60) -> dict[str, Any]:
    """Read until the first snapshot (frames before it are the buffered kind)."""
    async with asyncio.timeout(within):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "snapshot":
                result: dict[str, Any] = message
                return result


async def poll(predicate: Callable[[], bool | Awaitable[bool]], *, every: float = 0.1) -> None:
    """Check ``predicate`` every ``every`` seconds until it holds (the caller bounds the
    wait with ``asyncio.timeout``). Polling, not an event: what it waits for happens in
    another process, or in readers that should not know who is waiting."""
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(every)


# --- databases


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields its DATABASE_URL.

    Uses the Debian packages' binaries. PostgreSQL refuses to run as root, so as
    root the cluster belongs to the ``postgres`` user, as Debian sets it up.
    """
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bindir:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    bin_ = bindir[-1]
    data = Path(tempfile.mkdtemp(prefix="flowdash-bench-pg-"))
    port = free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]

    def pg(*args: str) -> None:
        subprocess.run([*as_postgres, *args], check=True, capture_output=True, cwd="/")

    try:
        pg(str(bin_ / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres")
        pg(
            str(bin_ / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=on", "start",
        )  # fmt: skip
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            pg(str(bin_ / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)


# --- tables and records


@dataclass
class Table:
    """A markdown table with a verdict column; misses are bold so they are not missed."""

    title: str
    columns: list[str]
    notes: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    verdicts: list[tuple[str, bool]] = field(default_factory=list)

    def row(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def target(self, what: str, met: bool) -> str:
        """Record a target's verdict; returns the cell text for the table."""
        self.verdicts.append((what, met))
        return "yes" if met else "**NO**"

    def render(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("| " + " | ".join("---" for _ in self.columns) + " |")
        lines.extend("| " + " | ".join(r) + " |" for r in self.rows)
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        if self.verdicts:
            lines.append("")
            met = [w for w, ok in self.verdicts if ok]
            missed = [w for w, ok in self.verdicts if not ok]
            if met:
                lines.append("Targets met: " + "; ".join(met) + ".")
            if missed:
                lines.append("Targets **missed**: " + "; ".join(missed) + ".")
        return "\n".join(lines) + "\n"


def server_env_argument(parser: argparse.ArgumentParser) -> None:
    """``--server-env FLOWDASH_X=VALUE ...``: more settings for an ``--observer`` run's servers."""
    parser.add_argument(
        "--server-env",
        nargs="*",
        default=[],
        metavar="FLOWDASH_X=VALUE",
        help="--observer: more settings for the servers (e.g. FLOWDASH_PERSIST=0)",
    )


def server_env(args: argparse.Namespace) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in args.server_env)


def server_env_note(tables: list[Table], env: Mapping[str, str]) -> None:
    """Say under the first table which settings the servers ran with besides the observer."""
    if env:
        tables[0].notes.append(
            "Server settings besides FLOWDASH_OBSERVER: "
            + ", ".join(f"{k}={v}" for k, v in env.items())
            + "."
        )


def machine() -> str:
    """One line naming the run's date and machine, for the record."""
    from importlib.metadata import version

    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    now = datetime.datetime.now().astimezone()
    return (
        f"{now:%Y-%m-%d %H:%M %Z}, {os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GB RAM, "
        f"Python {platform.python_version()}, Django {version('django')}, "
        f"channels {version('channels')}, daphne {version('daphne')}, "
        f"moto {version('moto')}, boto3 {version('boto3')}"
    )


def load_1min() -> float:
    """The machine's 1-minute load average: other work skews every figure; it says how much."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values (printed as "-")."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def fmt(value: float, digits: int = 0) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"


def emit(tables: Sequence[Table], *, record: bool, header: str) -> None:
    """Print the tables; with ``record``, also append them to bench/results/flow.md."""
    text = "\n".join(t.render() for t in tables)
    print(text, flush=True)
    if record:
        record_append(f"## {header}\n\nMachine: {machine()}\n\n{text}")


def record_append(section: str) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Flowdash benchmark results (bench/run_all.py)\n\n"
            "Each run appends its tables below, newest last. A missed target stays in the "
            "record.\n\n"
        )
    with RESULTS.open("a") as out:
        out.write("\n" + section.rstrip() + "\n")


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout is only the tables."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
