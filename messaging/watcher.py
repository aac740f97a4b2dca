"""The watcher: keeps the topology current, taps every topic, samples queue depth.

Request cost, the reason for each interval:
- topology: one read every ``refresh_seconds`` (about one request per resource),
  and at once when something asks (``refresh_soon``), e.g. after a change in the UI.
  Listings (topics, queues, subscriptions) are read every time; a known queue's
  attributes (GetQueueAttributes(All), the dearest part: one per queue) only when
  they are older than ``ATTRIBUTES_STALE`` refresh periods, so every other
  periodic refresh, or when Flowdash itself asked (it may have changed them);
- taps: one long poll (20 s) per topic, so about 3 requests a minute when idle,
  and while busy about one receive and one delete per ten publications;
- depth: GetQueueAttributes for the three counters only, every ``depth_fast``
  seconds while the numbers move, doubling to ``depth_slow`` when they don't.
  A change Flowdash cannot account for (a publication reached the queue) nudges a
  sample sooner. What Flowdash's own workers do needs no sample: each receive and
  delete tells the watcher how the counters moved (`DepthNews`), the bar moves at
  once, and SQS is asked only every ``depth_slow`` while they work and once when
  they stop. Readings SQS gives anyway count as samples: the refresh's
  GetQueueAttributes(All), and an idle worker's empty long poll (nothing visible)
  for up to ``depth_stand_in`` seconds. So an idle queue costs about 1.5 samples a
  minute besides the refresh, and none with an idle worker on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from .aio import AwsRunner
from .connection import Connection
from .correlation import Correlator
from .errors import FlowdashError, ResourceNotFound
from .events import Depth, Error, FlowEmitter, ResourceChanged
from .publishing import received_message
from .resources import Depth as QueueDepth
from .resources import Topic
from .supervisor import Supervisor
from .taps import Tap, tap_ensure
from .topology import TopologyIndex, topology_get

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

logger = logging.getLogger(__name__)

DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]
MAX_BACKOFF = 30.0
TAP_BATCH = 10
#: After a part-full tap batch, the wait before the next receive: publications of a
#: steady trickle arrive in fuller batches (fewer requests), each shown at most this
#: much later. Worker receives show deliveries without waiting for the tap.
TAP_FILL_SECONDS = 0.1
#: A periodic refresh re-reads a known queue's attributes once they are older than
#: this many refresh periods (1.5: every other one).
ATTRIBUTES_STALE = 1.5


def backoff(attempt: int) -> float:
    delay: float = 0.5 * 2**attempt  # int ** int is typed Any: a negative power is a float
    return min(MAX_BACKOFF, delay)


@dataclass(frozen=True, slots=True, kw_only=True)
class DepthNews:
    """What one of Flowdash's own workers just did to a queue, told to the watcher.

    The worker knows exactly how its receive and delete moved the counters, so the
    bar can move at once without a GetQueueAttributes; samples are kept for what
    Flowdash cannot know (other producers and consumers, visibility lapsing).
    """

    received: int = 0  #: moved from visible to in flight: a batch is open
    deleted: int = 0  #: in-flight messages deleted after processing
    settled: bool = False  #: the batch a receive opened is over
    failed: bool = False  #: some of it failed: those reappear later, unannounced
    empty_poll: bool = False  #: a long poll came back empty: nothing was visible


@dataclass(slots=True)
class _Sampling:
    """One queue's depth-sampling state; times are ``time.monotonic()`` seconds."""

    wake: asyncio.Event
    sampled_at: float  #: the last reading of SQS's counters (or what counts as one)
    read_at: float  #: the last real reading (a sample or a refresh), not a stand-in
    listed_at: float  #: the last time a refresh read the queue's attributes
    interval: float  #: the backoff interval while nothing happens
    unknown_at: float | None = None  #: an unexplained change was signalled then
    own_at: float = -math.inf  #: the last `DepthNews` that moved the counters
    open_batches: int = 0  #: batches received and not yet settled
    doubt: bool = False  #: workers' news alone is not to be trusted for now
    news: int = 0  #: counts news, to spot one landing while a sample is on its way


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
        depth_stand_in: float = 120.0,
        outside: bool = True,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.conn = conn
        #: Runs the tap and depth loops: restarted when they fail, cancelled on stop.
        self.supervisor = supervisor or Supervisor()
        self.emitter = emitter
        self.correlator = correlator
        self.run = run
        self.refresh_seconds = refresh_seconds
        self.depth_fast = depth_fast
        self.depth_slow = depth_slow
        self.tap_wait_seconds = tap_wait_seconds
        self.depth_stand_in = depth_stand_in
        #: False when the embedded observer reports from inside the broker: then the
        #: watcher only reads the topology when a report says it changed (no periodic
        #: reads, no taps, no depth samples; depths are the observer's).
        self.outside = outside
        #: Counts topology reads as they start: a read numbered above a change's number
        #: began after the change, so its picture includes it.
        self.generation = 0
        self.depths: dict[str, QueueDepth] = {}
        self.ready = asyncio.Event()
        self._refresh_wanted = asyncio.Event()
        self._taps: dict[str, asyncio.Task[None]] = {}
        self._tapped: dict[str, asyncio.Event] = {}
        self._samplers: dict[str, asyncio.Task[None]] = {}
        self._sampling: dict[str, _Sampling] = {}
        self._next_refresh_at: float | None = None
        self._listeners: list[Any] = []

    @property
    def index(self) -> TopologyIndex:
        return self.correlator.index

    def on_refresh(self, listener: Any) -> None:
        self._listeners.append(listener)

    def refresh_soon(self) -> None:
        self._refresh_wanted.set()

    def depth_soon(self, queue_arn: str, news: DepthNews | None = None) -> None:
        """Something changed the queue's depth: what a worker did (``news``), or,
        without news, something only a sample can tell (sampled soon)."""
        sampling = self._sampling.get(queue_arn)
        if sampling is None:
            return
        if news is not None:
            self._depth_news(queue_arn, sampling, news)
            return
        if sampling.unknown_at is None:
            sampling.unknown_at = time.monotonic()
        sampling.wake.set()

    async def taps_ready(self) -> None:
        """Wait until every known topic is tapped: from then on no publication is missed."""
        await asyncio.gather(*(event.wait() for event in self._tapped.values()))

    async def run_forever(self) -> None:
        attempt = 0
        full = True
        try:
            while True:
                # Cleared before reading, so a change made during the read asks for another.
                self._refresh_wanted.clear()
                try:
                    await self.refresh(full=full)
                    attempt = 0
                except FlowdashError as exc:
                    self._error("watcher", exc)
                    attempt += 1
                    await asyncio.sleep(backoff(attempt))
                    continue
                if not self.outside:
                    await self._refresh_wanted.wait()
                    continue
                self._next_refresh_at = time.monotonic() + self.refresh_seconds
                full = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._refresh_wanted.wait(), self.refresh_seconds)
                    full = True  # asked for: Flowdash may have changed attributes
        except asyncio.CancelledError:
            # Stopped, so are the taps and samplers it started. When it fails instead,
            # its supervisor restarts it and they keep running undisturbed.
            for task in [*self._taps.values(), *self._samplers.values()]:
                task.cancel()
            raise

    async def refresh(self, *, full: bool = True) -> None:
        """Read the topology; ``full=False`` reuses queue attributes that are still fresh."""
        self.generation += 1
        started = time.monotonic()
        fresh = self.refresh_seconds * ATTRIBUTES_STALE
        known = {
            queue.url: queue
            for arn, queue in self.index.queues.items()
            if not full
            and arn in self._sampling
            and started - self._sampling[arn].listed_at < fresh
        }
        topology = await self.run(topology_get, conn=self.conn, known=known)
        old = self.index
        new = TopologyIndex(topology)
        self.correlator.index = new
        if not self.outside:
            self.ready.set()
            for listener in self._listeners:
                listener(new)
            return
        if self.ready.is_set():
            self._announce_changes(old, new)
        # Observe-only: a tap queue would be a change to the account, so no taps.
        tapped = {} if self.conn.config.read_only else new.topics
        for arn, topic in tapped.items():
            if arn not in self._taps:
                self._tapped[arn] = asyncio.Event()
                self._taps[arn] = self.supervisor.loop(
                    "tap", partial(self._tap_loop, topic), resource=arn
                )
        for arn in set(self._taps) - set(new.topics):
            self._taps.pop(arn).cancel()
            self._tapped.pop(arn, None)
        for arn, queue in new.queues.items():
            if queue.url in known:
                continue  # attributes (and depth) from an earlier refresh
            # The refresh read the queue's attributes: that is a depth sample too.
            if arn in self._samplers:
                self._sampling[arn].listed_at = started
                self._depth_observed(arn, queue.depth, at=started)
                continue
            self._sampling[arn] = _Sampling(
                wake=asyncio.Event(),
                sampled_at=started,
                read_at=started,
                listed_at=started,
                interval=self.depth_fast,
            )
            self._depth_show(arn, queue.depth, always=True)
            self._samplers[arn] = self.supervisor.loop(
                "depth", partial(self._depth_loop, arn, queue.url), resource=arn
            )
        for arn in set(self._samplers) - set(new.queues):
            self._samplers.pop(arn).cancel()
            self._sampling.pop(arn, None)
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
        """Read the topic's tap queue: every publication, whoever made it.

        Two things keep it near one receive and one delete per ten publications
        without holding up what it shows: a batch's delete runs while the next
        receive waits (one delete at a time), and after a part-full batch the next
        receive waits ``TAP_FILL_SECONDS``, so a steady trickle comes in fuller
        batches. A failed delete costs only requests: the message reappears after
        its visibility timeout and the correlator, which remembers what it saw,
        ignores it.
        """
        tap: Tap | None = None
        attempt = 0
        deleting: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    if tap is None:
                        tap = await self.run(tap_ensure, conn=self.conn, topic=topic)
                        self._tapped[topic.arn].set()
                    response = await self.run(
                        self.conn.sqs.receive_message,
                        QueueUrl=tap.queue_url,
                        MaxNumberOfMessages=TAP_BATCH,
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
                    attempt = 0
                    if not messages:
                        continue
                    for sub in self.index.subscriptions_by_topic.get(topic.arn, []):
                        self.depth_soon(sub.endpoint)
                    if deleting is not None:
                        await deleting
                    deleting = self.supervisor.spawn(
                        self._tap_delete(tap, messages), name=f"tap delete {topic.arn}"
                    )
                    if len(messages) < TAP_BATCH:
                        await asyncio.sleep(TAP_FILL_SECONDS)
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
        finally:
            if deleting is not None:
                deleting.cancel()

    async def _tap_delete(self, tap: Tap, messages: list[MessageTypeDef]) -> None:
        try:
            await self.run(
                self.conn.sqs.delete_message_batch,
                QueueUrl=tap.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
        except ResourceNotFound:
            pass  # the tap queue went away; the loop makes a new one
        except FlowdashError as exc:
            self._error("tap", exc, resource=tap.topic_arn)

    async def _depth_loop(self, queue_arn: str, url: str) -> None:
        """Sample one queue's depth when ``_depth_due`` says what is shown may be wrong."""
        sampling = self._sampling[queue_arn]
        attempt = 0
        while True:
            while (delay := self._depth_due(sampling) - time.monotonic()) > 0:
                sampling.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sampling.wake.wait(), delay)
            started = time.monotonic()
            news = sampling.news
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
            if sampling.news != news:
                # A worker's receive or delete landed while the sample was on its way:
                # which of the two SQS saw first is unknowable, so take another.
                sampling.unknown_at = sampling.unknown_at or started
                continue
            depth = QueueDepth.from_attributes(response.get("Attributes", {}))
            self._depth_observed(queue_arn, depth, at=started)

    def _depth_due(self, s: _Sampling) -> float:
        """When the next GetQueueAttributes is worth its price (monotonic seconds).

        - Something Flowdash cannot account for happened (a publication reached the
          queue, a message was sent, a dead letter moved): soon, but no more often
          than every ``depth_fast`` (twice that while workers explain the other moves).
        - Only Flowdash's own workers moved the counters: they said by how much, so
          the shown depth is already right; check at most every ``depth_slow`` while
          they keep at it, and once, ``2 * depth_fast`` after they went quiet, so the
          bar settles on SQS's own figure.
        - Nothing happened: back off from ``depth_fast`` to ``depth_slow``, and leave
          the sample to the topology refresh when one is due about then. Empty long
          polls stand in for samples (visible is 0), but they say nothing of delayed
          messages, so a real reading is taken at least every ``depth_stand_in``.
        """
        if s.unknown_at is not None:
            spacing = self.depth_fast * (2 if s.open_batches else 1)
            return max(s.unknown_at + self.depth_fast / 2, s.sampled_at + spacing)
        if s.own_at > s.sampled_at:
            if not s.open_batches:
                return s.own_at + 2 * self.depth_fast
            if s.doubt:
                return s.sampled_at + s.interval
            return s.sampled_at + max(s.interval, self.depth_slow)
        due = min(s.sampled_at + s.interval, s.read_at + self.depth_stand_in)
        upcoming = self._next_refresh_at
        if (
            upcoming is not None
            and upcoming <= due + s.interval / 2
            and upcoming - s.listed_at >= self.refresh_seconds * ATTRIBUTES_STALE
        ):
            # That refresh reads the queue's attributes, depth included: let it sample.
            return max(due, upcoming + self.depth_slow)
        return due

    def _depth_observed(self, queue_arn: str, depth: QueueDepth, *, at: float) -> None:
        """A reading of SQS's own counters, taken at ``at``: show it and plan the next."""
        s = self._sampling.get(queue_arn)
        if s is None or s.read_at > at or s.own_at > at:
            return  # a newer reading, or a worker's news, already supersedes it
        changed = self._depth_show(queue_arn, depth)
        # Wrong although workers had kept it up to date: someone else is at work here.
        s.doubt = changed and s.own_at > s.sampled_at
        s.sampled_at = max(s.sampled_at, at)
        s.read_at = at
        s.interval = self.depth_fast if changed else min(s.interval * 2, self.depth_slow)
        if s.unknown_at is not None and s.unknown_at <= at:
            s.unknown_at = None

    def _depth_show(self, queue_arn: str, depth: QueueDepth, *, always: bool = False) -> bool:
        if not always and depth == self.depths.get(queue_arn):
            return False
        self.depths[queue_arn] = depth
        self.emitter.emit(
            Depth,
            queue_arn=queue_arn,
            visible=depth.visible,
            in_flight=depth.in_flight,
            delayed=depth.delayed,
        )
        return True

    def _depth_news(self, queue_arn: str, s: _Sampling, news: DepthNews) -> None:
        """Move the shown depth by what a worker did, without asking SQS."""
        now = time.monotonic()
        shown = self.depths.get(queue_arn, QueueDepth())
        queue = self.index.queues.get(queue_arn)
        if news.empty_poll:
            if queue is None or queue.fifo:
                return  # FIFO: visible messages of a held group are not returned
            if shown == QueueDepth():
                # Nothing visible all along: as good as a sample that found it empty.
                if s.unknown_at is None and s.own_at <= s.sampled_at:
                    s.sampled_at = max(s.sampled_at, now)
                    s.interval = min(s.interval * 2, self.depth_slow)
                return
            if shown.visible:
                # SQS had none to give: visible is 0, and the rest is worth a look.
                self._depth_show(queue_arn, replace(shown, visible=0))
                s.unknown_at = s.unknown_at or now
                s.wake.set()
            return
        s.news += 1
        s.own_at = now
        if news.received:
            s.open_batches += 1
        if news.settled:
            s.open_batches = max(0, s.open_batches - 1)
        if news.failed:
            s.doubt = True  # failures reappear when their visibility lapses, unseen
        visible = shown.visible - news.received
        in_flight = shown.in_flight + news.received - news.deleted
        if visible < 0 or in_flight < 0:
            s.unknown_at = s.unknown_at or now  # more than was shown: others are at work
        self._depth_show(
            queue_arn, replace(shown, visible=max(0, visible), in_flight=max(0, in_flight))
        )
        s.wake.set()

    def _error(self, source: str, exc: FlowdashError, *, resource: str | None = None) -> None:
        logger.warning("%s: %s", source, exc.message)
        self.emitter.emit(
            Error, source=source, message=exc.message, code=exc.code, resource=resource
        )
