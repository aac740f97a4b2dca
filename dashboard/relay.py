"""One channel-layer subscription per process for flow frames, fanned out in memory.

With every ``FlowConsumer`` in the ``flow`` group, the channel layer delivered
each frame once per socket: a queue put and a receive per viewer per frame, and
with channels-redis a receive task per viewer as well. At 100 viewers on one
Daphne process that receiving cost more than sending the frames. The relay
joins the group once per process (per event loop) and hands each frame's text,
encoded once by the flow bus, to every socket registered with it, in order.

Snapshots stay on each consumer's own channel: they answer one socket's request.

Its loop runs under a supervisor (messaging.supervisor): if receiving fails (Redis
went away) it is logged, restarted with backoff, reported as an ``error`` event
where this process runs the engine, and shown by ``/healthz``.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from messaging.supervisor import LoopFailure, Supervisor

from . import flowbus

logger = logging.getLogger(__name__)


class FrameSink(Protocol):
    async def frame_send(self, text: str) -> None: ...


class FrameRelay:
    def __init__(self) -> None:
        self.layer = flowbus.channel_layer()
        self.sinks: set[FrameSink] = set()
        self.channel: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.supervisor = Supervisor()
        self.supervisor.on_failure(_report)

    async def join(self, sink: FrameSink) -> None:
        """Register a socket; from now on it gets every frame the group receives."""
        if self.channel is None:
            # The default prefix: channels-redis reads all of a process's channels
            # through one key, named by that prefix.
            self.channel = await self.layer.new_channel()
            self._task = self.supervisor.loop("relay", self._run)
        # Again on each join: group membership expires (channels' group_expiry), and a
        # join is when a lapsed membership would be noticed.
        await self.layer.group_add(flowbus.GROUP, self.channel)
        self.sinks.add(sink)

    def leave(self, sink: FrameSink) -> None:
        self.sinks.discard(sink)

    async def stop(self) -> None:
        """Stop relaying (tests); a later join starts again."""
        await self.supervisor.stop()
        self.supervisor = Supervisor()
        self.supervisor.on_failure(_report)
        self._task = None
        self.channel = None

    async def _run(self) -> None:
        assert self.channel is not None
        # Again on a restart: after a failure (Redis restarted) the membership may be gone.
        await self.layer.group_add(flowbus.GROUP, self.channel)
        while True:
            message = await self.layer.receive(self.channel)
            if message.get("type") != "flow.frame":
                continue
            text = message["text"]
            for sink in list(self.sinks):
                try:
                    await sink.frame_send(text)
                except Exception:  # one broken socket must not starve the others
                    logger.exception("sending a frame to a socket failed")


_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FrameRelay] = (
    weakref.WeakKeyDictionary()
)


def _report(failure: LoopFailure) -> None:
    flowbus.error_report(
        source=failure.name, message=failure.message, code=type(failure.error).__name__
    )


def relays_health() -> dict[str, Any]:
    """The relay loops' states, for ``/healthz`` (from any thread)."""
    loops: dict[str, Any] = {}
    try:
        found = list(_relays.values())
    except RuntimeError:  # a loop's relay came or went meanwhile
        found = []
    for each in found:
        loops.update(each.supervisor.status())
    return loops


def relay() -> FrameRelay:
    """This event loop's relay (Daphne runs one loop; tests may run several in turn)."""
    loop = asyncio.get_running_loop()
    found = _relays.get(loop)
    if found is None:
        found = _relays[loop] = FrameRelay()
    return found
