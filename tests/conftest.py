"""Shared fixtures: one real moto server over HTTP for the whole run, reset per test."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import pytest

from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.embedded import EmbeddedServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server = EmbeddedServer(port=0)
    url = server.start()
    yield url
    server.stop()


@pytest.fixture
def moto_url(moto_server: str) -> str:
    """A moto server with no resources in it: what the test sees, it made."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return moto_server


@pytest.fixture
def conn(moto_url: str) -> Connection:
    """Flowdash's connection; ``FLOWDASH_OBSERVER=outside`` runs the suite through the
    outside path (taps and samples) on the same embedded moto."""
    observer = os.environ.get("FLOWDASH_OBSERVER", "inside")
    return Connection(BackendConfig(observer=observer), endpoint_url=moto_url)
