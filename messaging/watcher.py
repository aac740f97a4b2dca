"""The watcher: keeps the topology current, taps every topic, samples queue depth.

Request cost, the reason for each interval (docs/iam.md lists every operation):
- discovery: the listings (ListTopics, ListQueues, and ListSubscriptions once there
  are topics) every ``refresh_seconds`` (4.5 s: a resource anyone creates or deletes
  shows within 5 s). They are shared by every resource: about 27 requests a minute
  without topics, 40 with, whatever the number of queues. Attributes are read only
  for what a listing shows to be new (one Get*Attributes each), for a vanished topic
  (confirmed gone before its tap is deleted), for everything when Flowdash itself
  changed something (``refresh_soon``), and for topics and subscriptions every
  ``attributes_seconds`` (filter policies changed by others: no sample shows them).
  Queues need no such re-read: each depth sample also asks for LastModifiedTimestamp
  and, once ``attributes_seconds`` have passed, for all attributes (same price).
- taps: created at once for a new topic (two requests), deleted within a listing of
  its topic's deletion and when Flowdash stops; taps left behind (a killed Flowdash,
  a topic deleted meanwhile) are deleted by the first listing. One long poll (20 s)
  per topic, so about 3 requests a minute when idle, and while busy about one
  receive and one delete per ten publications. ``taps=False`` (FLOWDASH_TAPS=off)
  adds nothing to the account: depth only.
- depth: GetQueueAttributes for the three counters only, every ``depth_fast``
  seconds while the numbers move, doubling to ``depth_slow`` when they don't.
  A change Flowdash cannot account for (a publication reached the queue) nudges a
  sample sooner. What Flowdash's own workers do needs no sample: each receive and
  delete tells the watcher how the counters moved (`DepthNews`), the bar moves at
  once, and SQS is asked only every ``depth_slow`` while they work and once when
  they stop. Readings SQS gives anyway count as samples: a full read of a queue's
  attributes, and an idle worker's empty long poll (nothing visible) for up to
  ``depth_stand_in`` seconds. So an idle queue costs 60 / ``depth_slow`` samples a
  minute, and none with an idle worker on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from .aio import AwsRunner
from .connection import Connection
from .correlation import Correlator
from .errors import FlowdashError, ResourceNotFound
from .events import Depth, Error, FlowEmitter, ResourceChanged
from .publishing import received_message
from .resources import Depth as QueueDepth
from .resources import Queue, Topic, is_listed, queue_from_attributes, topic_get, url_name
from .supervisor import Supervisor
from .taps import Tap, tap_ensure, tap_names, tap_remove, tap_topic, topic_stub
from .topology import (
    Listing,
    SubscriptionListing,
    Topology,
    TopologyIndex,
    topology_list,
    topology_update,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType
    from mypy_boto3_sqs.type_defs import MessageTypeDef

logger = logging.getLogger(__name__)

DEPTH_ATTRIBUTES: list[QueueAttributeNameType] = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    # Changes when anyone sets the queue's attributes (AWS, moto; not LocalStack, which
    # is why a sample reads everything once ``attributes_seconds`` have passed).
    "LastModifiedTimestamp",
]
MAX_BACKOFF = 30.0
TAP_BATCH = 10
#: After a part-full tap batch, the wait before the next receive: publications of a
#: steady trickle arrive in fuller batches (fewer requests), each shown at most this
#: much later. Worker receives show deliveries without waiting for the tap.
TAP_FILL_SECONDS = 0.1
#: How long a stopping watcher waits for its taps to be deleted.
TAP_REMOVE_SECONDS = 10.0
Reread = Literal["topics", "queues", "subscriptions"]


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
    listed_at: float  #: the last time all the queue's attributes were read
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
        refresh_seconds: float = 4.5,
        attributes_seconds: float = 300.0,
        depth_fast: float = 0.5,
        depth_slow: float = 60.0,
        tap_wait_seconds: int = 20,
        depth_stand_in: float = 120.0,
        taps: bool = True,
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
        self.attributes_seconds = attributes_seconds
        self.depth_fast = depth_fast
        self.depth_slow = depth_slow
        self.tap_wait_seconds = tap_wait_seconds
        self.depth_stand_in = depth_stand_in
        #: False when the embedded observer reports from inside the broker: then the
        #: watcher only reads the topology when a report says it changed (no periodic
        #: reads, no taps, no depth samples; depths are the observer's).
        self.outside = outside
        #: Whether topics are tapped: off by setting (FLOWDASH_TAPS=off), or because
        #: Flowdash may change nothing (FLOWDASH_READ_ONLY).
        self.tapping = taps and outside and not conn.config.read_only
        #: Counts topology reads as they start: a read numbered above a change's number
        #: began after the change, so its picture includes it.
        self.generation = 0
        self.depths: dict[str, QueueDepth] = {}
        self.ready = asyncio.Event()
        self._refresh_wanted = asyncio.Event()
        self._taps: dict[str, asyncio.Task[None]] = {}
        self._tapped: dict[str, asyncio.Event] = {}
        #: Taps made or adopted, by topic ARN: what a stop or the topic's deletion removes.
        self._tap_made: dict[str, Tap] = {}
        #: Tap queue names being removed, so a listing does not remove them twice.
        self._tap_removing: set[str] = set()
        #: Tap queues whose topic exists although no listing showed it yet (by name).
        self._tap_kept: set[str] = set()
        self._samplers: dict[str, asyncio.Task[None]] = {}
        self._sampling: dict[str, _Sampling] = {}
        self._listeners: list[Any] = []
        self._subscription_listing: SubscriptionListing = "account"
        self._reread_at = -math.inf

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
        """Wait until every known topic is tapped, from when on no publication is missed,
        or its tap failed once (an ``error`` event says why and the tap keeps trying):
        a tap AWS refuses must not keep Flowdash from starting."""
        await asyncio.gather(*(event.wait() for event in self._tapped.values()))

    async def run_forever(self) -> None:
        attempt = 0
        full = True
        try:
            while True:
                # Cleared before reading, so a change made during the read asks for another.
                self._refresh_wanted.clear()
                started = time.monotonic()
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
                full = False
                # A fixed cadence from each start, so the time to discovery stays bounded.
                wait = max(0.0, started + self.refresh_seconds - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._refresh_wanted.wait(), wait)
                    full = True  # asked for: Flowdash may have changed attributes
        except asyncio.CancelledError:
            # Stopped, so are the taps and samplers it started. When it fails instead,
            # its supervisor restarts it and they keep running undisturbed.
            for task in [*self._taps.values(), *self._samplers.values()]:
                task.cancel()
            raise

    async def refresh(self, *, full: bool = True) -> None:
        """List the topology and read what is new; ``full`` re-reads every attribute
        (Flowdash changed something). Inside the embedded observer every read is full:
        it happens only when a report says something changed."""
        self.generation += 1
        started = time.monotonic()
        full = full or not self.outside
        reread: tuple[Reread, ...] = ()
        if full:
            reread = ("topics", "queues", "subscriptions")
        elif started - self._reread_at >= self.attributes_seconds:
            reread = ("topics", "subscriptions")  # queues: their depth samples tell
        if reread:
            self._reread_at = started
            self._tap_kept.clear()
        old = self.index
        listing, topology = await self.run(
            self._read, previous=old.topology, reread=reread, first=not self.ready.is_set()
        )
        current = self.index  # a depth sample may have replaced a queue meanwhile
        if current is not old:
            topology = replace(
                topology,
                queues=[
                    current.queues.get(q.arn, q) if old.queues.get(q.arn) is q else q
                    for q in topology.queues
                ],
            )
        new = TopologyIndex(topology)
        self.correlator.index = new
        if not self.outside:
            self.ready.set()
            for listener in self._listeners:
                listener(new)
            return
        if self.ready.is_set():
            self._announce_changes(old, new)
        self._taps_follow(new, listing)
        for arn, queue in new.queues.items():
            known = arn in self._sampling
            if known and "queues" not in reread:
                continue  # attributes (and depth) from an earlier read
            # The read took the queue's attributes: that is a depth sample too.
            if known:
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

    def _read(
        self, *, previous: Topology, reread: tuple[Reread, ...], first: bool
    ) -> tuple[Listing, Topology]:
        """One discovery round, in a worker thread: the listings, then what is new."""
        how = self._subscription_listing
        if first:
            how = "account"  # subscriptions of taps whose topics are gone are found only so
        listing = topology_list(self.conn, subscriptions=how)
        if listing.subscription_requests:
            # Account-wide costs a request per 100 subscriptions in the account; by topic,
            # one per topic. Take the cheaper next time (a tap's are found either way).
            self._subscription_listing = (
                "by_topic"
                if listing.subscription_requests > max(1, len(listing.topic_arns))
                else "account"
            )
        topology = topology_update(self.conn, previous=previous, listing=listing, reread=reread)
        return listing, topology

    def _taps_follow(self, new: TopologyIndex, listing: Listing) -> None:
        """One tap per watched topic: start the new, remove those of topics gone, and
        remove any other tap queue (a killed Flowdash's, a deleted topic's)."""
        wanted = new.topics if self.tapping else {}
        for arn, topic in wanted.items():
            if arn not in self._taps:
                self._tapped[arn] = asyncio.Event()
                self._taps[arn] = self.supervisor.loop(
                    "tap", partial(self._tap_loop, topic), resource=arn
                )
        for arn in set(self._taps) - set(wanted):
            self._taps.pop(arn).cancel()
            if (tapped := self._tapped.pop(arn, None)) is not None:
                tapped.set()  # nothing left to wait for
        if self.conn.config.read_only:
            return  # observe-only: no taps, and nothing else is changed either
        # A topic's tap has one of two names (``taps.tap_names``): once it is made, only
        # that one is wanted, and a queue under the other name is removed.
        wanted_names: set[str] = set()
        for arn, topic in wanted.items():
            made = self._tap_made.get(arn)
            wanted_names |= {url_name(made.queue_url)} if made else set(tap_names(self.conn, topic))
        subscribers: dict[str, list[str]] = {}
        for sub in listing.subscriptions:
            if sub.protocol == "sqs":
                subscribers.setdefault(sub.endpoint.rsplit(":", 1)[-1], []).append(sub.arn)
        for url in listing.tap_urls:
            name = url_name(url)
            if name in wanted_names or name in self._tap_removing or name in self._tap_kept:
                continue
            known = next(
                (t for t in self._tap_made.values() if t.queue_url == url), None
            )  # fmt: skip
            self._tap_removing.add(name)
            self.supervisor.background(
                self._tap_gone(url, known, subscribers.get(name, [])),
                name=f"tap remove {name}", resource=url,
            )  # fmt: skip
        # A kept tap is looked at again at the next re-read (``refresh`` clears the set).
        self._tap_kept &= {url_name(u) for u in listing.tap_urls}

    async def _tap_gone(self, url: str, known: Tap | None, subscriptions: list[str]) -> None:
        """Remove a tap queue no watched topic wants. One made by another (a killed
        Flowdash) is removed only when its topic is confirmed gone or out of view, or
        the topic has its tap under the other name: a topic just created may be missing
        from an eventually consistent listing."""
        name = url_name(url)
        try:
            if known is None and self.tapping:
                topic_arn = await self.run(tap_topic, conn=self.conn, queue_url=url)
                if (
                    topic_arn is not None
                    and topic_arn not in self._tap_made
                    and name in tap_names(self.conn, topic_stub(topic_arn))
                    and await self._topic_watchable(topic_arn)
                ):
                    self._tap_kept.add(name)
                    return
            if known is not None:
                subscriptions = [*subscriptions, known.subscription_arn]
                self._tap_made.pop(known.topic_arn, None)
            await self.run(
                tap_remove, conn=self.conn, queue_url=url,
                subscription_arns=sorted(set(subscriptions)),
            )  # fmt: skip
        except FlowdashError as exc:
            self._error("tap", exc, resource=url)
        finally:
            self._tap_removing.discard(name)

    async def _topic_watchable(self, topic_arn: str) -> bool:
        if not is_listed(self.conn, topic_arn.rsplit(":", 1)[-1]):
            return False
        try:
            await self.run(topic_get, conn=self.conn, arn=topic_arn)
        except ResourceNotFound:
            return False
        return True

    async def taps_remove(self) -> None:
        """Delete every tap this watcher made or adopted: Flowdash stops watching."""
        taps = list(self._tap_made.values())
        self._tap_made.clear()
        for task in self._taps.values():
            task.cancel()
        if not taps:
            return
        removals = [
            self.run(
                tap_remove,
                conn=self.conn,
                queue_url=tap.queue_url,
                subscription_arns=[tap.subscription_arn],
            )
            for tap in taps
        ]
        results = await asyncio.gather(*removals, return_exceptions=True)
        for tap, result in zip(taps, results, strict=True):
            if isinstance(result, FlowdashError):
                logger.warning("tap of %s not removed: %s", tap.topic_arn, result.message)

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
        for arn, topic in new.topics.items():
            if arn in old.topics and _topic_settings(old.topics[arn]) != _topic_settings(topic):
                self.emitter.emit(ResourceChanged, kind="topic", action="changed", arn=arn)
        for arn, queue in new.queues.items():
            if arn in old.queues and _settings(old.queues[arn]) != _settings(queue):
                self.emitter.emit(ResourceChanged, kind="queue", action="changed", arn=arn)

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
                        self._tap_made[topic.arn] = tap
                        if (tapped := self._tapped.get(topic.arn)) is not None:
                            tapped.set()
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
                    if tap is None and (tapped := self._tapped.get(topic.arn)) is not None:
                        tapped.set()  # the topic is gone: the next listing drops it
                    tap = None  # the tap queue or topic went away; make it again next time
                    attempt += 1
                    await asyncio.sleep(backoff(attempt))
                except FlowdashError as exc:
                    self._error("tap", exc, resource=topic.arn)
                    if tap is None and (tapped := self._tapped.get(topic.arn)) is not None:
                        tapped.set()  # not tapped, but said so: the engine may start
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
            # Every so often the sample reads all attributes (the same one request), so
            # a change someone else made shows where LastModifiedTimestamp does not move.
            everything = started - sampling.listed_at >= self.attributes_seconds
            try:
                response = await self.run(
                    self.conn.sqs.get_queue_attributes,
                    QueueUrl=url,
                    AttributeNames=["All"] if everything else DEPTH_ATTRIBUTES,
                )
                attributes = response.get("Attributes", {})
                if not everything and self._queue_modified(queue_arn, attributes):
                    everything = True
                    response = await self.run(
                        self.conn.sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["All"]
                    )
                    attributes = response.get("Attributes", {})
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
            if everything and "QueueArn" in attributes:
                sampling.listed_at = started
                self._queue_replace(queue_from_attributes(url=url, attributes=attributes))
            depth = QueueDepth.from_attributes(attributes)
            self._depth_observed(queue_arn, depth, at=started)

    def _queue_modified(
        self, queue_arn: str, attributes: Mapping[QueueAttributeNameType, str]
    ) -> bool:
        """Whether a sample's LastModifiedTimestamp says the queue's settings changed."""
        queue = self.index.queues.get(queue_arn)
        stamp = attributes.get("LastModifiedTimestamp")
        return (
            queue is not None
            and stamp is not None
            and stamp != queue.attributes.get("LastModifiedTimestamp")
        )

    def _queue_replace(self, queue: Queue) -> None:
        """A sample read all of a queue's attributes: keep the topology in step, and
        say so when a setting changed (a DLQ, a timeout: someone else set it)."""
        old = self.index
        current = old.queues.get(queue.arn)
        if current is None:
            return
        topology = replace(
            old.topology, queues=[queue if q.arn == queue.arn else q for q in old.topology.queues]
        )
        new = TopologyIndex(topology)
        self.correlator.index = new
        if _settings(current) != _settings(queue):
            self.emitter.emit(ResourceChanged, kind="queue", action="changed", arn=queue.arn)
            for listener in self._listeners:
                listener(new)

    def _depth_due(self, s: _Sampling) -> float:
        """When the next GetQueueAttributes is worth its price (monotonic seconds).

        - Something Flowdash cannot account for happened (a publication reached the
          queue, a message was sent, a dead letter moved): soon, but no more often
          than every ``depth_fast`` (twice that while workers explain the other moves).
        - Only Flowdash's own workers moved the counters: they said by how much, so
          the shown depth is already right; check at most every ``depth_slow`` while
          they keep at it, and once, ``2 * depth_fast`` after they went quiet, so the
          bar settles on SQS's own figure.
        - Nothing happened: back off from ``depth_fast`` to ``depth_slow``. Empty long
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
        return min(s.sampled_at + s.interval, s.read_at + self.depth_stand_in)

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


def _settings(queue: Queue) -> dict[str, str]:
    """A queue's settings: its attributes without the counters and timestamps that move."""
    return {
        k: v
        for k, v in queue.attributes.items()
        if not k.startswith("Approximate") and k != "LastModifiedTimestamp"
    }


#: Topic attributes that count subscriptions: they move with every subscribe, which
#: is announced as a subscription of its own.
TOPIC_COUNTERS = frozenset(
    {"SubscriptionsConfirmed", "SubscriptionsPending", "SubscriptionsDeleted"}
)


def _topic_settings(topic: Topic) -> dict[str, str]:
    return {k: v for k, v in topic.attributes.items() if k not in TOPIC_COUNTERS}
