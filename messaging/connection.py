"""One shared pair of boto3 clients per backend, with a request counter.

boto3 clients are thread-safe (sessions and resources are not), so Flowdash
builds them once and every thread shares them. Each AWS request is counted by
operation through botocore's event hooks, so the cost of watching a real
account can be read off `/healthz` instead of guessed.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from .config import BackendConfig
from .errors import ReadOnly
from .reports import FLOWDASH_CLIENT

#: Long polls wait up to 20 s; the read timeout must outlast them.
CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=30,
    retries={"mode": "standard", "total_max_attempts": 3},
    max_pool_connections=32,
    # The embedded broker tells Flowdash's own requests from other clients' by this.
    user_agent_extra=FLOWDASH_CLIENT,
)

#: Emulators accept any credentials; real ones would be a secret to leak.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "flowdash", "aws_secret_access_key": "flowdash"}


#: Called with a kind ("topology.changed", "messages.sent", "push.published") and its details.
ChangeListener = Callable[[str, dict[str, Any]], None]


class RequestCounter:
    """Counts HTTP requests to AWS by ``service.Operation``: retries count, as AWS bills them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def __call__(self, *, event_name: str, **_: Any) -> None:
        # event_name is "before-send.<service>.<Operation>"
        key = event_name.split(".", 1)[1]
        with self._lock:
            self._counts[key] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


class Connection:
    """The SNS and SQS clients for one backend, plus what Flowdash knows about it."""

    def __init__(self, config: BackendConfig, *, endpoint_url: str | None = None) -> None:
        self.config = config
        self.endpoint_url = endpoint_url or config.endpoint_url
        self.requests = RequestCounter()
        kwargs: dict[str, Any] = {"region_name": config.region, "config": CLIENT_CONFIG}
        if config.backend != "aws":
            kwargs["endpoint_url"] = self.endpoint_url
            kwargs.update(EMULATOR_CREDENTIALS)
        session = boto3.session.Session()
        self.sns = session.client("sns", **kwargs)
        self.sqs = session.client("sqs", **kwargs)
        for client in (self.sns, self.sqs):
            client.meta.events.register("before-send.*.*", self.requests)
        #: Whether requests skip HTTP, going straight to an embedded server in this process.
        self.in_process = False
        if config.backend == "embedded" and config.moto_inprocess:
            from .embedded.inprocess import InProcessTransport, app_for

            app = app_for(self.endpoint_url)
            if app is not None:
                # A before-send handler returns the response; botocore's stubs type
                # handlers as returning None, which Callable[..., Any] satisfies.
                transport: Callable[..., Any] = InProcessTransport(app)
                for client in (self.sns, self.sqs):
                    client.meta.events.register("before-send.*.*", transport)
                self.in_process = True
        self._listeners: list[ChangeListener] = []

    def on_change(self, listener: ChangeListener) -> None:
        """Be told when Flowdash changed something (the seam the live engine hangs on)."""
        self._listeners.append(listener)

    def notify(self, kind: str, **details: Any) -> None:
        for listener in self._listeners:
            listener(kind, details)

    def write_check(self) -> None:
        """Called by every operation that changes AWS state."""
        if self.config.read_only:
            raise ReadOnly(
                "Flowdash is read-only here (FLOWDASH_READ_ONLY): it observes but changes nothing.",
                code="ReadOnly",
            )

    @property
    def prefix(self) -> str:
        return self.config.resource_prefix

    @property
    def backend(self) -> str:
        return self.config.backend

    def describe(self) -> dict[str, Any]:
        """What the header and /healthz show: never credentials."""
        return {
            "backend": self.config.backend,
            "endpoint_url": self.endpoint_url,
            "region": self.config.region,
            "resource_prefix": self.prefix,
        }
