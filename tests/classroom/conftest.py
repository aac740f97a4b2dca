"""Classroom fixtures: the app on the test's moto server, the flow engine in-process with
every event recorded, and the shipped scenarios installed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import User

from dashboard import flowbus
from dashboard.classroom.loader import scenarios_install
from dashboard.classroom.models import Scenario
from messaging.config import BackendConfig
from tests.live import LiveServer, flowdash_served

from .browsing import PASSWORD


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real ``manage.py serve`` (Daphne, embedded moto, the engine) for a browser test."""
    with flowdash_served(tmp_path_factory.mktemp("classroom-live"), password=PASSWORD) as live:
        yield live


@pytest.fixture
def live_settings(settings, moto_url: str):
    """The app on this test's moto server, with a watcher quick enough for tests."""
    settings.FLOWDASH_BACKEND = BackendConfig(
        backend="endpoint", endpoint_url=moto_url, http_allowed_hosts=("127.0.0.1",)
    )
    settings.FLOWDASH_WATCHER = {
        "refresh_seconds": 1.0, "depth_fast": 0.2, "depth_slow": 1.0, "tap_wait_seconds": 1,
    }  # fmt: skip
    return settings


class Recorder:
    """Every flow event the engine emits, unsampled (frames to browsers may be sampled)."""

    def __init__(self, bus: flowbus.FlowBus) -> None:
        assert bus.engine is not None
        self.engine = bus.engine
        self.events: list[dict[str, Any]] = []
        self.engine.emitter.subscribe(lambda event: self.events.append(event.to_dict()))

    async def until(self, predicate: Callable[[], Any], within: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            if loop.time() > deadline:
                seen = [(e["seq"], e["type"]) for e in self.events if e["type"] != "depth"]
                raise AssertionError(f"timed out; saw {seen[-60:]}")
            await asyncio.sleep(0.05)

    async def knows(self, loaded: Any) -> None:
        """Wait until the engine's topology has what a load made and every topic is tapped
        (the presenter page waits the same way before it plays)."""

        def known() -> bool:
            index = self.engine.correlator.index
            subscriptions = {s.arn for s in index.topology.subscriptions}
            return (
                set(loaded.topics.values()) <= set(index.topics)
                and set(loaded.queues.values()) <= set(index.queues)
                and set(loaded.subscriptions) <= subscriptions
            )

        await self.until(known)
        await asyncio.wait_for(self.engine.watcher.taps_ready(), 15)

    def of(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e for e in self.events
            if e["type"] == kind and all(e.get(k) == v for k, v in match.items())
        ]  # fmt: skip

    def body(self, trace_id: str) -> str:
        """What the message said: from its ``published`` event."""
        published = self.of("published", trace_id=trace_id)
        assert published, f"no published event for {trace_id}"
        return published[0]["body"]


@pytest.fixture
async def engine(live_settings) -> AsyncIterator[Recorder]:
    bus = await flowbus.ensure_running()
    assert bus is not None
    yield Recorder(bus)
    await flowbus.shutdown()
    await get_channel_layer().flush()


def _install() -> dict[str, Scenario]:
    scenarios_install(model=Scenario, replace=True)
    return {s.slug: s for s in Scenario.objects.all()}


@pytest.fixture
async def shipped(live_settings) -> dict[str, Scenario]:
    return await sync_to_async(_install)()


@pytest.fixture
async def teacher(live_settings) -> User:
    return await sync_to_async(
        lambda: User.objects.get_or_create(username="teacher", is_staff=True)[0]
    )()


@pytest.fixture(autouse=True)
def quiet_commands() -> None:
    """Start each test with no engine commands queued by an earlier test's services."""
    async_to_sync(get_channel_layer().flush)()


def scenarios_sync() -> dict[str, Scenario]:
    return _install()


def staff_user() -> User:
    user, _ = User.objects.get_or_create(username="teacher", defaults={"is_staff": True})
    return user
