"""A real Flowdash for tests: ``manage.py serve`` in a subprocess, as ``make run`` starts it.

Its own var directory (database, secret key), free loopback ports for Daphne and
the embedded moto server, fast watcher intervals, and the instructor's password
set, so tests can log in through the login form.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
#: The instructor ``manage.py serve`` creates (``FLOWDASH_INSTRUCTOR_USERNAME``'s default).
USERNAME = "instructor"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LiveServer:
    base: str
    moto: str
    password: str
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text().splitlines()[-lines:])


def login(base: str, password: str, *, username: str = USERNAME) -> httpx.Client:
    """Log in through the form, as a browser does; the client keeps the cookies and
    sends the CSRF header the pages' scripts send, so it can call the JSON API too."""
    client = httpx.Client(base_url=base, timeout=30)
    client.get("/login/")
    response = client.post(
        "/login/",
        data={"username": username, "password": password,
              "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": f"{base}/login/"},
    )  # fmt: skip
    assert response.status_code == 302, response.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    client.headers["Referer"] = f"{base}/"
    return client


@contextmanager
def flowdash_served(var: Path, *, password: str, **extra_env: str) -> Iterator[LiveServer]:
    # A restart test passes the ports of the server it replaces, to come back where it was.
    port = int(extra_env.get("FLOWDASH_PORT") or free_port())
    moto_port = int(extra_env.get("FLOWDASH_MOTO_PORT") or free_port())
    env = {
        **os.environ,
        "FLOWDASH_VAR_DIR": str(var),
        "FLOWDASH_BACKEND": "embedded",
        "FLOWDASH_MOTO_PORT": str(moto_port),
        "FLOWDASH_PORT": str(port),
        "FLOWDASH_INSTRUCTOR_PASSWORD": password,
        "FLOWDASH_REFRESH_SECONDS": "1",
        "FLOWDASH_DEPTH_FAST_SECONDS": "0.2",
        "FLOWDASH_TAP_WAIT_SECONDS": "2",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    log = var / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    server = LiveServer(
        base=f"http://127.0.0.1:{port}", moto=f"http://127.0.0.1:{moto_port}",
        password=password, log=log,
    )  # fmt: skip
    try:
        _wait_listening(server, proc)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(server: LiveServer, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"manage.py serve exited with {proc.returncode}:\n{server.log_tail()}"
            )
        try:
            httpx.get(f"{server.base}/healthz", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)  # no browser involved yet: a plain sleep is right here
    raise AssertionError(f"{server.base} never answered:\n{server.log_tail()}")
