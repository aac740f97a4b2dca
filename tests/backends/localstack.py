"""A real LocalStack (community, host mode, no Docker) for tests, on a free loopback port.

LocalStack needs Python >= 3.12 while Flowdash runs on 3.11, so it lives in its own
virtualenv, ``.venv-localstack``, made by ``scripts/localstack.sh`` (pinned, idempotent:
the first call installs, later ones return at once). ``localstack_running`` starts
``python -m localstack.runtime.main`` there and waits for ``/_localstack/health`` to
report SNS and SQS; on the way out it stops the whole process group, also when the test
failed, and the child is told to die with its parent (``PR_SET_PDEATHSIG``), so a
killed pytest leaves no LocalStack behind.

The environment keeps LocalStack on this machine: no DNS server (it would bind port 53),
no analytics events, no certificate download, its files under the test's directory
(``OVERRIDE_IN_DOCKER=0``: in a container LocalStack would otherwise write to
/var/lib/localstack). Queue URLs keep LocalStack's default shape,
``http://sqs.<region>.localhost.localstack.cloud:<port>/000000000000/<name>``, a host
that does not resolve offline: what a user's LocalStack hands Flowdash, so the suite
checks that Flowdash never calls a QueueUrl as a URL.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.live import ROOT, free_port

VENV = ROOT / ".venv-localstack"
INSTALL_SCRIPT = ROOT / "scripts" / "localstack.sh"
#: LocalStack's own account id when the access key is not a 12-digit number.
ACCOUNT = "000000000000"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class LocalStackError(AssertionError):
    """LocalStack could not be installed or started: a failure, never a skip."""


@dataclass(frozen=True)
class LocalStack:
    url: str
    log: Path
    pid: int
    #: Seconds from spawning the process to SNS and SQS answering ``/_localstack/health``.
    startup_seconds: float

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def localstack_install() -> Path:
    """``.venv-localstack``'s interpreter, installing it on first use (scripts/localstack.sh)."""
    result = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    python = VENV / "bin" / "python"
    if result.returncode != 0 or not python.exists():
        raise LocalStackError(
            f"installing LocalStack failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-3000:]}"
        )
    return python


def localstack_env(directory: Path, port: int) -> dict[str, str]:
    """The environment LocalStack runs with: SNS and SQS only, on ``port``, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLOWDASH_"))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("PYTHONPATH", None)
    env.update(
        SERVICES="sns,sqs",
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        # Interpolated into the queue URLs it returns: the default host, on our port.
        LOCALSTACK_HOST=f"localhost.localstack.cloud:{port}",
        DNS_ADDRESS="0",
        DISABLE_EVENTS="1",
        SKIP_SSL_CERT_DOWNLOAD="1",
        OVERRIDE_IN_DOCKER="0",
        FILESYSTEM_ROOT=str(directory / "filesystem"),
        PYTHONUNBUFFERED="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent (pytest) dies, however it dies."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def health(url: str) -> dict[str, object] | None:
    """``/_localstack/health`` as JSON, or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=2) as response:
            data: dict[str, object] = json.load(response)
            return data
    except (OSError, ValueError):
        return None


def _ready(url: str) -> bool:
    data = health(url)
    services = data.get("services") if data else None
    return isinstance(services, dict) and all(
        services.get(name) in ("available", "running") for name in ("sns", "sqs")
    )


@contextmanager
def localstack_running(directory: Path) -> Iterator[LocalStack]:
    """A fresh LocalStack with nothing in it, stopped (its whole process group) on exit."""
    python = localstack_install()
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = directory / "localstack.log"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(python), "-m", "localstack.runtime.main"],
            cwd=directory, env=localstack_env(directory, port), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
        )  # fmt: skip
    try:
        deadline = started + STARTUP_TIMEOUT
        while not _ready(url):
            if proc.poll() is not None:
                raise LocalStackError(
                    f"LocalStack exited with {proc.returncode} while starting:\n"
                    + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
                )
            if time.monotonic() > deadline:
                raise LocalStackError(
                    f"LocalStack did not report SNS and SQS ready at {url} within "
                    f"{STARTUP_TIMEOUT:.0f} s:\n" + log.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.1)  # a process starting up: nothing to wait on but its port
        yield LocalStack(url=url, log=log, pid=proc.pid, startup_seconds=time.monotonic() - started)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (LocalStack shuts down its services), SIGKILL if it
    has not gone within ``STOP_TIMEOUT``."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # The group may outlive its leader by a moment; make sure nothing of it is left.
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
