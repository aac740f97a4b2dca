"""The process's one connection to the configured backend.

Built lazily on first use, not in ``AppConfig.ready()`` (which also runs for
``migrate`` and tests): with the embedded backend, the first use starts the
moto server in this process, so ``runserver``, ``daphne`` and ``manage.py serve``
all work. ``manage.py serve`` starts it eagerly to print the endpoint.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from messaging.connection import Connection
from messaging.embedded import EmbeddedServer
from messaging.embedded.persistence import STATE_FILE_NAME
from messaging.engine import observation_mode

_lock = threading.Lock()
_connection: Connection | None = None
_server: EmbeddedServer | None = None


def connection() -> Connection:
    global _connection, _server
    if _connection is not None:
        return _connection
    with _lock:
        if _connection is None:
            config = settings.FLOWDASH_BACKEND
            endpoint = None
            if config.backend == "embedded":
                # Flowdash's own HTTP receiver may always be subscribed to in embedded mode.
                receiver = urlsplit(settings.FLOWDASH_PUBLIC_URL).hostname or "127.0.0.1"
                config = replace(config, http_allowed_hosts=(*config.http_allowed_hosts, receiver))
            # An embedded config that names its endpoint means the moto server already
            # runs in this process (tests start their own); otherwise start it here.
            if config.backend == "embedded" and not config.endpoint_url:
                _server = EmbeddedServer(
                    host=config.moto_host, port=config.moto_port, fastpath=config.moto_fastpath,
                    state_path=settings.VAR_DIR / STATE_FILE_NAME if config.persist else None,
                )  # fmt: skip
                endpoint = _server.start()
            _connection = Connection(config, endpoint_url=endpoint)
            _connection.on_change(_tell_engine)
    return _connection


def _tell_engine(kind: str, details: dict[str, Any]) -> None:
    from .flowbus import command_send

    command_send(kind, **details)


def embedded_server() -> EmbeddedServer | None:
    return _server


def health() -> dict[str, Any]:
    """What /healthz shows about the backend: never credentials."""
    conn = connection()
    info = conn.describe()
    info["aws_requests"] = conn.requests.snapshot()
    info["aws_requests_total"] = conn.requests.total
    server = embedded_server()
    info["moto_fastpath"] = bool(server and getattr(server, "fastpath_active", False))
    info["moto_inprocess"] = conn.in_process
    #: "inside": the embedded broker reports every operation; "outside": taps and samples.
    info["observer"] = observation_mode(conn)
    return info


def shutdown() -> None:
    global _connection, _server
    with _lock:
        if _server is not None:
            _server.stop()
        _server = None
        _connection = None


@receiver(setting_changed)
def _reset_on_settings_change(*, setting: str, **_: Any) -> None:
    if setting == "FLOWDASH_BACKEND":
        shutdown()
