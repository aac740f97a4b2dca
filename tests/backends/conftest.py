"""One Flowdash per backend, for tests that must hold on every backend alike.

``backend`` is parametrised over where the AWS APIs live and how Flowdash watches them:

- ``inside``: the embedded moto, watched from inside (``FLOWDASH_OBSERVER=inside``);
- ``outside``: the embedded moto, watched from outside (taps and samples, as on AWS);
- ``localstack``: a real LocalStack (host mode, started by the session) through the
  ``endpoint`` backend, so from outside too.

Which run is chosen by ``FLOWDASH_TEST_BACKENDS`` (comma-separated ids; default
``inside,outside``): plain ``make test`` runs the embedded two, ``make test-localstack``
sets it to ``localstack``. A LocalStack that cannot be installed or started fails the
tests that asked for it; it is never skipped. The LocalStack param carries the
``localstack`` marker (for ``-m``); so must a test that starts its own LocalStack
(``localstack_started``), which is then deselected unless LocalStack is chosen.

Each Flowdash is ``manage.py serve`` in a subprocess (``tests.live``), one per backend for
the session (pytest runs a backend's tests together, then stops its server), so tests
name their resources uniquely (``Backend.name``) and remove what they made
(``made``). ``localstack_started`` gives a test a LocalStack of its own, and
``flowdash_for`` a Flowdash of its own on any backend (for restarts, or settings of
its own); two Flowdash processes watching the same LocalStack would share its tap
queues, so give each its own LocalStack.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.clients.conftest import FlowWatch
from tests.live import LiveServer, flowdash_served, login

from .localstack import ACCOUNT as LOCALSTACK_ACCOUNT
from .localstack import LocalStack, localstack_running

BACKEND_IDS = ("inside", "outside", "localstack")
DEFAULT_BACKENDS = "inside,outside"
REGION = "us-east-1"
MOTO_ACCOUNT = "123456789012"
PASSWORD = "backends-" + secrets.token_urlsafe(9)
#: No retries: a retried call could make the broker act twice, which Flowdash did not do.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
#: Startup times, shown at the end of the run (``pytest_terminal_summary``).
TIMINGS: list[str] = []
# One line per request to Flowdash would bury a failure's own message.
logging.getLogger("httpx").setLevel(logging.WARNING)


def selected_backends() -> list[str]:
    chosen = [
        b.strip() for b in os.environ.get("FLOWDASH_TEST_BACKENDS", DEFAULT_BACKENDS).split(",")
    ]
    chosen = [b for b in chosen if b]
    unknown = sorted(set(chosen) - set(BACKEND_IDS))
    if unknown or not chosen:
        raise pytest.UsageError(
            f"FLOWDASH_TEST_BACKENDS={os.environ.get('FLOWDASH_TEST_BACKENDS')!r}: "
            f"choose from {', '.join(BACKEND_IDS)}"
        )
    return chosen


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "localstack: runs against a real LocalStack (make test-localstack)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``localstack`` that start a LocalStack themselves run only when
    LocalStack is chosen (``make test-localstack``): deselected, never skipped, otherwise."""
    if "localstack" in selected_backends():
        return
    dropped = [item for item in items if item.get_closest_marker("localstack")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("localstack")]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.write_sep("-", "backend start-up")
        for line in TIMINGS:
            terminalreporter.write_line(line)


@dataclass
class Backend:
    """A running Flowdash on one backend, and what a test needs to act on it as a user."""

    id: str
    server: LiveServer
    #: Where outside clients (boto3, the AWS CLI) reach the AWS APIs.
    aws_endpoint: str
    account: str
    #: "embedded" or "endpoint", as ``/healthz`` reports it.
    kind: str
    #: "inside" or "outside", as ``/healthz`` reports it.
    observer: str
    region: str = REGION
    localstack: LocalStack | None = None
    _clients: tuple[Any, Any] | None = field(default=None, repr=False)

    @property
    def outside(self) -> bool:
        return self.observer == "outside"

    def name(self, stem: str) -> str:
        """A resource name no other test uses (``stem`` ends in .fifo for a FIFO one)."""
        fifo = stem.endswith(".fifo")
        base = stem.removesuffix(".fifo")
        return f"{base}-{secrets.token_hex(3)}" + (".fifo" if fifo else "")

    def topic_arn(self, name: str) -> str:
        return f"arn:aws:sns:{self.region}:{self.account}:{name}"

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{name}"

    def boto3(self) -> tuple[Any, Any]:
        """Plain boto3 SNS and SQS clients (another program: user agent ``Boto3/...``)."""
        if self._clients is None:
            session = boto3.session.Session(
                aws_access_key_id="test", aws_secret_access_key="test", region_name=self.region
            )
            self._clients = (
                session.client("sns", endpoint_url=self.aws_endpoint, config=NO_RETRIES),
                session.client("sqs", endpoint_url=self.aws_endpoint, config=NO_RETRIES),
            )
        return self._clients

    def login(self) -> Api:
        return Api.login(self.server.base, self.server.password)

    def watch(self, api: Api) -> FlowWatch:
        """A viewer of ``/ws/flow/`` with the session of ``api``, started (snapshot in)."""
        flow = FlowWatch(self.server.base, f"sessionid={api.http.cookies['sessionid']}")
        flow.start()
        return flow


class Api:
    """Flowdash's JSON API with a browser's session (cookie and CSRF header), as the
    pages' scripts call it. Every call checks its status; ``call`` returns the JSON."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    @classmethod
    def login(cls, base: str, password: str) -> Api:
        return cls(login(base, password))

    def call(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, f"/api{path}", **kwargs)
        assert response.status_code == expect, (
            f"{method} /api{path}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, json: Any, *, expect: int = 200) -> Any:
        return self.call("POST", path, json=json, expect=expect)

    def put(self, path: str, json: Any, *, expect: int = 200) -> Any:
        return self.call("PUT", path, json=json, expect=expect)

    def delete(self, path: str, *, expect: int = 204) -> Any:
        return self.call("DELETE", path, expect=expect)

    def close(self) -> None:
        self.http.close()


#: Watcher settings of every Flowdash here: quick, so the outside path shows changes fast.
QUICK = {
    "FLOWDASH_LOG_LEVEL": "WARNING",
    "FLOWDASH_PERSIST": "0",
    "FLOWDASH_REFRESH_SECONDS": "1",
    "FLOWDASH_DEPTH_FAST_SECONDS": "0.2",
    "FLOWDASH_DEPTH_SLOW_SECONDS": "1",
    "FLOWDASH_TAP_WAIT_SECONDS": "1",
}


def backend_env(backend_id: str, localstack: LocalStack | None = None) -> dict[str, str]:
    """The environment that points a Flowdash at backend ``backend_id``."""
    if backend_id == "localstack":
        assert localstack is not None
        return {
            **QUICK,
            "FLOWDASH_BACKEND": "endpoint",
            "FLOWDASH_AWS_ENDPOINT_URL": localstack.url,
            "FLOWDASH_AWS_REGION": REGION,
        }
    return {**QUICK, "FLOWDASH_BACKEND": "embedded", "FLOWDASH_OBSERVER": backend_id}


@contextmanager
def flowdash_for(
    backend_id: str, var: Path, *, localstack: LocalStack | None = None, **extra_env: str
) -> Iterator[Backend]:
    """A Flowdash of its own on ``backend_id`` (for LocalStack: on ``localstack``), checked
    through ``/healthz`` to be on that backend and watching it the expected way."""
    env = {**backend_env(backend_id, localstack), **extra_env}
    with flowdash_served(var, password=PASSWORD, **env) as server:
        health = httpx.get(f"{server.base}/healthz", timeout=10).json()
        kind = "endpoint" if backend_id == "localstack" else "embedded"
        observer = "inside" if backend_id == "inside" else "outside"
        assert (health["backend"], health["observer"]) == (kind, observer), health
        yield Backend(
            id=backend_id,
            server=server,
            aws_endpoint=localstack.url if localstack else server.moto,
            account=LOCALSTACK_ACCOUNT if localstack else MOTO_ACCOUNT,
            kind=kind,
            observer=observer,
            localstack=localstack,
        )


@pytest.fixture(scope="session")
def localstack_started(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[], AbstractContextManager[LocalStack]]:
    """Starts a fresh LocalStack of a test's own: ``with localstack_started() as ls: ...``."""

    def start() -> AbstractContextManager[LocalStack]:
        return localstack_running(tmp_path_factory.mktemp("localstack"))

    return start


@pytest.fixture(
    scope="session",
    params=[
        pytest.param(b, id=b, marks=[pytest.mark.localstack] if b == "localstack" else [])
        for b in selected_backends()
    ],
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """Flowdash on one backend, shared by that backend's tests (see the module docstring)."""
    backend_id: str = request.param
    var = tmp_path_factory.mktemp(f"flowdash-{backend_id}")
    if backend_id != "localstack":
        with flowdash_for(backend_id, var) as live:
            yield live
        return
    with localstack_running(tmp_path_factory.mktemp("localstack")) as localstack:
        TIMINGS.append(f"LocalStack ready in {localstack.startup_seconds:.1f} s ({localstack.url})")
        try:
            with flowdash_for("localstack", var, localstack=localstack) as live:
                yield live
        except BaseException:
            print(f"LocalStack's log ends:\n{localstack.log_tail()}")
            raise


@pytest.fixture
def api(backend: Backend) -> Iterator[Api]:
    """The instructor's API session on ``backend``'s Flowdash."""
    client = backend.login()
    yield client
    client.close()


@pytest.fixture
def watch(backend: Backend, api: Api) -> Iterator[FlowWatch]:
    """A ``/ws/flow/`` viewer opened before the test acts; no frame may be lost."""
    flow = backend.watch(api)
    try:
        yield flow
    finally:
        flow.close()
    assert flow.gaps == [], f"frames were lost: {flow.gaps}"


@pytest.fixture
def made(backend: Backend, api: Api) -> Iterator[list[str]]:
    """ARNs a test created; their workers are stopped and they are deleted afterwards,
    so the shared Flowdash watches only what the running test made."""
    arns: list[str] = []
    yield arns
    for arn in reversed(arns):
        if ":sqs:" in arn:
            api.call("PUT", f"/queues/{arn}/workers", json={"count": 0}, expect=200)
    for arn in reversed(arns):
        kind = "queues" if ":sqs:" in arn else "topics"
        response = api.http.delete(f"/api/{kind}/{arn}")
        assert response.status_code in (204, 404), response.text
