"""An engine observing the embedded moto from inside, and another program's clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import boto3
import pytest

from messaging.connection import Connection
from messaging.engine import FlowEngine
from messaging.events import FlowEmitter

from .verify import Flow


@pytest.fixture(scope="session")
def outside_clients(moto_server: str) -> tuple[Any, Any]:
    """Plain boto3 clients over HTTP (user agent ``Boto3/...``): another program.
    Built once: clients are thread-safe, and building one costs ~0.1 s."""
    options = {
        "endpoint_url": moto_server, "region_name": "us-east-1",
        "aws_access_key_id": "someone", "aws_secret_access_key": "else",
    }  # fmt: skip
    return boto3.client("sns", **options), boto3.client("sqs", **options)


@pytest.fixture
async def flow(conn: Connection, outside_clients: tuple[Any, Any]) -> AsyncIterator[Flow]:
    """The contract is the embedded observer's (``observer="inside"``), whatever
    ``FLOWDASH_OBSERVER`` says for the rest of the suite."""
    inside = (
        conn
        if conn.config.observer == "inside"
        else Connection(replace(conn.config, observer="inside"), endpoint_url=conn.endpoint_url)
    )
    engine = FlowEngine(inside, FlowEmitter())
    assert engine.observation == "inside"
    flow = Flow(engine, *outside_clients)
    await engine.start()
    yield flow
    await engine.stop()
