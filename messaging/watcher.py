"""The watcher: keeps the topology current, taps every topic, samples queue depth.

Request cost, the reason for each interval:
- topology: one read every ``refresh_seconds`` (about one request per resource),
  and at once when something asks (``refresh_soon``), e.g. after a change in the UI;
- taps: one long poll (20 s) per topic, so about 3 requests a minute when idle;
- depth: GetQueueAttributes for the three counters only, every ``depth_fast``
  seconds while the numbers move, doubling to ``depth_slow`` when they don't,
  so an idle queue costs 2 requests a minute. Activity nudges a sample sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from .aio import AwsRunner
from .connection import Connection
from .correlation import Correlator
from .errors import FlowdashError, ResourceNotFound
from .events import Depth, Error, FlowEmitter, ResourceChanged
from .publishing import received_message
from .resources import Depth as QueueDepth
from .resources import Topic
from .taps import Tap, tap_ensure
from .topology import TopologyIndex, topology_get

logger = logging.getLogger(__name__)

DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]
MAX_BACKOFF = 30.0


def backoff(attempt: int) -> float:
    return min(MAX_BACKOFF, 0.5 * 2**attempt)


class Watcher:
    def __init__(
        self,
        conn: Connection,
        emitter: FlowEmitter,
        correlator: Correlator,
        run: AwsRunner,
        *,
        refresh_seconds: float = 60.0,
        depth_fast: float = 0.5,
        depth_slow: float = 30.0,
        tap_wait_seconds: int = 20,
    ) -> None:
        self.conn = conn
        self.emitter = emitter
        self.correlator = correlator
        self.run = run
        self.refresh_seconds = refresh_seconds
        self.depth_fast = depth_fast
        self.depth_slow = depth_slow
        self.tap_wait_seconds = tap_wait_seconds
        self.depths: dict[str, QueueDepth] = {}
        self.ready = asyncio.Event()
        self._refresh_wanted = asyncio.Event()
        self._taps: dict[str, asyncio.Task[None]] = {}
        self._tapped: dict[str, asyncio.Event] = {}
        self._samplers: dict[str, asyncio.Task[None]] = {}
        self._nudges: dict[str, asyncio.Event] = {}
        self._listeners: list[Any] = []

    @property
    def index(self) -> TopologyIndex:
        return self.correlator.index

    def on_refresh(self, listener: Any) -> None:
        self._listeners.append(listener)

    def refresh_soon(self) -> None:
        self._refresh_wanted.set()

    def depth_soon(self, queue_arn: str) -> None:
        nudge = self._nudges.get(queue_arn)
        if nudge is not None:
            nudge.set()

    async def taps_ready(self) -> None:
        """Wait until every known topic is tapped: from then on no publication is missed."""
        await asyncio.gather(*(event.wait() for event in self._tapped.values()))

    async def run_forever(self) -> None:
        attempt = 0
        try:
            while True:
                # Cleared before reading, so a change made during the read asks for another.
                self._refresh_wanted.clear()
                try:
                    await self.refresh()
                    attempt = 0
                except FlowdashError as exc:
                    self._error("watcher", exc)
                    attempt += 1
                    await asyncio.sleep(backoff(attempt))
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._refresh_wanted.wait(), self.refresh_seconds)
        finally:
            for task in [*self._taps.values(), *self._samplers.values()]:
                task.cancel()

    async def refresh(self) -> None:
        topology = await self.run(topology_get, conn=self.conn)
        old = self.index
        new = TopologyIndex(topology)
        self.correlator.index = new
        if self.ready.is_set():
            self._announce_changes(old, new)
        # Observe-only: a tap queue would be a change to the account, so no taps.
        tapped = {} if self.conn.config.read_only else new.topics
        for arn, topic in tapped.items():
            if arn not in self._taps:
                self._tapped[arn] = asyncio.Event()
                self._taps[arn] = asyncio.create_task(self._tap_loop(topic), name=f"tap {arn}")
        for arn in set(self._taps) - set(new.topics):
            self._taps.pop(arn).cancel()
            self._tapped.pop(arn, None)
        for arn, queue in new.queues.items():
            self.depths.setdefault(arn, queue.depth)
            if arn not in self._samplers:
                self._nudges[arn] = asyncio.Event()
                self._samplers[arn] = asyncio.create_task(
                    self._depth_loop(arn, queue.url), name=f"depth {arn}"
                )
        for arn in set(self._samplers) - set(new.queues):
            self._samplers.pop(arn).cancel()
            self._nudges.pop(arn, None)
            self.depths.pop(arn, None)
        self.ready.set()
        for listener in self._listeners:
            listener(new)

    def _announce_changes(self, old: TopologyIndex, new: TopologyIndex) -> None:
        pairs = (
            ("topic", set(old.topics), set(new.topics)),
            ("queue", set(old.queues), set(new.queues)),
            (
                "subscription",
                {s.arn for s in old.topology.subscriptions},
                {s.arn for s in new.topology.subscriptions},
            ),
        )
        for kind, before, after in pairs:
            for arn in sorted(after - before):
                self.emitter.emit(ResourceChanged, kind=kind, action="created", arn=arn)
            for arn in sorted(before - after):
                self.emitter.emit(ResourceChanged, kind=kind, action="deleted", arn=arn)
        before_subs = {s.arn: s for s in old.topology.subscriptions}
        for sub in new.topology.subscriptions:
            if sub.arn in before_subs and before_subs[sub.arn] != sub:
                self.emitter.emit(
                    ResourceChanged, kind="subscription", action="changed", arn=sub.arn
                )

    async def _tap_loop(self, topic: Topic) -> None:
        tap: Tap | None = None
        attempt = 0
        while True:
            try:
                if tap is None:
                    tap = await self.run(tap_ensure, conn=self.conn, topic=topic)
                    self._tapped[topic.arn].set()
                response = await self.run(
                    self.conn.sqs.receive_message,
                    QueueUrl=tap.queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=self.tap_wait_seconds,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=["All"],
                )
                messages = response.get("Messages", [])
                for raw in messages:
                    message = received_message(raw)
                    if message.envelope is not None:
                        self.correlator.publication_observe(
                            message.envelope, group_id=message.message_group_id
                        )
                if messages:
                    await self.run(
                        self.conn.sqs.delete_message_batch,
                        QueueUrl=tap.queue_url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                            for i, m in enumerate(messages)
                        ],
                    )
                    for sub in self.index.subscriptions_by_topic.get(topic.arn, []):
                        self.depth_soon(sub.endpoint)
                attempt = 0
            except asyncio.CancelledError:
                raise
            except ResourceNotFound:
                tap = None  # the tap queue or topic went away; make it again next time
                attempt += 1
                await asyncio.sleep(backoff(attempt))
            except FlowdashError as exc:
                self._error("tap", exc, resource=topic.arn)
                attempt += 1
                await asyncio.sleep(backoff(attempt))

    async def _depth_loop(self, queue_arn: str, url: str) -> None:
        interval = self.depth_fast
        attempt = 0
        first = True
        nudge = self._nudges[queue_arn]
        while True:
            try:
                response = await self.run(
                    self.conn.sqs.get_queue_attributes,
                    QueueUrl=url,
                    AttributeNames=DEPTH_ATTRIBUTES,
                )
                attempt = 0
            except asyncio.CancelledError:
                raise
            except ResourceNotFound:
                self.refresh_soon()
                return
            except FlowdashError as exc:
                self._error("depth", exc, resource=queue_arn)
                attempt += 1
                await asyncio.sleep(backoff(attempt))
                continue
            depth = QueueDepth.from_attributes(response.get("Attributes", {}))
            if first or depth != self.depths.get(queue_arn):
                first = False
                self.depths[queue_arn] = depth
                self.emitter.emit(
                    Depth,
                    queue_arn=queue_arn,
                    visible=depth.visible,
                    in_flight=depth.in_flight,
                    delayed=depth.delayed,
                )
                interval = self.depth_fast
            else:
                interval = min(interval * 2, self.depth_slow)
            nudge.clear()
            try:
                await asyncio.wait_for(nudge.wait(), interval)
                await asyncio.sleep(self.depth_fast / 2)  # let a burst settle before sampling
            except TimeoutError:
                pass

    def _error(self, source: str, exc: FlowdashError, *, resource: str | None = None) -> None:
        logger.warning("%s: %s", source, exc.message)
        self.emitter.emit(
            Error, source=source, message=exc.message, code=exc.code, resource=resource
        )
