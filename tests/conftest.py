"""Shared fixtures: one real moto server over HTTP for the whole run, reset per test."""

from __future__ import annotations

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
    return Connection(BackendConfig(), endpoint_url=moto_url)
