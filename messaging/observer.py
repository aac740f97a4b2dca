"""The embedded observer: the broker's own reports, turned into flow events.

On the embedded backend moto reports every operation of every client as it
performs it (``messaging.embedded.broker``). This module is the other end: it
takes those reports on the engine's event loop and emits the same flow events
the outside watcher would, only complete and at once, so the UI, traces, event
log and classroom read one contract whatever observes.

- **Hand-off.** ``offer`` runs in moto's request threads: it appends to a
  bounded buffer and, when the buffer was idle, schedules one drain on the loop
  (``call_soon_threadsafe``). It never blocks the broker. If the buffer is full
  the report is counted as dropped; the next drain says so in an ``error`` event
  and a ``resource_changed`` (kind ``flow``, action ``resync``), which makes every
  viewer fetch a fresh snapshot, and re-reads every queue's depth.
- **Who.** Flowdash's own workers and classroom participants report their
  receives and outcomes themselves (worker name, processing time, failures), so
  their receives and deletes are not repeated here. Any other client's receive
  is ``received`` by a consumer named ``<client> on <queue>``, and its delete
  ``processed``; such consumers are listed with the workers in the snapshot.
- **Time.** A received message that is not deleted becomes visible again when its
  visibility timeout lapses, with no request to tell anyone: a timer per
  in-flight message emits ``visibility_lapsed`` at that moment. Likewise a timer
  per queue, at its oldest message's retention deadline, deletes what expired
  (moto never does) and emits ``expired``.
- **Depth** is read from the broker's memory (exact, no request), for the queues
  the reports touched, at most every ``DEPTH_INTERVAL``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .correlation import BODY_PREVIEW_CHARS, Correlator
from .events import (
    DeadLettered,
    Deduplicated,
    Delivered,
    Depth,
    Error,
    Expired,
    Filtered,
    FlowEmitter,
    Processed,
    Received,
    ResourceChanged,
    VisibilityChanged,
    VisibilityLapsed,
)
from .reports import (
    FLOWDASH_CLIENT,
    CopyDelivered,
    CopyFailed,
    CopyFiltered,
    MessageDeadLettered,
    MessageDeduplicated,
    MessageDeleted,
    MessageReceived,
    MessageSent,
    Report,
    ResourceReport,
    TopicPublished,
    VisibilitySet,
)
from .resources import Depth as QueueDepth
from .workers import WorkerStats

logger = logging.getLogger(__name__)

#: Reports waiting for the loop at most; beyond it they are dropped and viewers resync.
BUFFER_CAPACITY = 200_000
#: How long reports gather before the loop takes them (seconds).
DRAIN_DELAY = 0.002
#: Depth of the queues reports touched is read at most this often (seconds).
DEPTH_INTERVAL = 0.05
#: In-flight messages remembered for their visibility timers at most.
IN_FLIGHT_LIMIT = 200_000

DepthRead = Callable[[str], QueueDepth | None]
#: Deletes a queue's expired messages; returns them and when the next is due.
Expire = Callable[[str], tuple[list[tuple[str, int]], float | None]]
#: Expiries due within this many seconds of each other are handled in one sweep.
EXPIRY_SLACK = 0.5


@dataclass(slots=True)
class _InFlight:
    trace_id: str
    queue_arn: str
    message_id: str
    receive_count: int
    visible_at_ms: float
    received_at: float
    client: str | None
    handles: list[str] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class EmbeddedObserver:
    def __init__(
        self,
        emitter: FlowEmitter,
        correlator: Correlator,
        *,
        depth_read: DepthRead,
        expire: Expire,
        depths: dict[str, QueueDepth],
        on_resource: Callable[[], None],
        generation: Callable[[], int],
        consumers: dict[str, WorkerStats],
        capacity: int = BUFFER_CAPACITY,
    ) -> None:
        self._emitter = emitter
        self._correlator = correlator
        self._depth_read = depth_read
        self._expire = expire
        self._expiry: dict[str, tuple[float, asyncio.TimerHandle]] = {}  # queue -> (due, timer)
        #: Shared with the snapshot: what each queue's bar shows.
        self.depths = depths
        self._on_resource = on_resource
        self._generation = generation
        #: Resource changes waiting for a topology read that includes them, with the
        #: number of the last read begun before them (see ``topology_read``).
        self._pending: list[tuple[int, ResourceReport]] = []
        #: Shared with the workers' stats: outside clients show as consumers beside them.
        self._consumers = consumers
        self._capacity = capacity
        self._buffer: deque[Report] = deque()
        self._scheduled = False
        self._dropped = 0
        self._drop_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight: dict[tuple[str, str], _InFlight] = {}
        self._handles: dict[str, tuple[str, str]] = {}
        self._dirty: set[str] = set()
        self._depth_timer: asyncio.TimerHandle | None = None
        #: Reports handled and dropped since start (for /healthz and benchmarks).
        self.handled = 0
        self.dropped_total = 0

    # --- the broker's side (any thread)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def offer(self, report: Report) -> None:
        """Take a report from a broker thread: O(1), never blocks."""
        if len(self._buffer) >= self._capacity:
            with self._drop_lock:
                self._dropped += 1
        else:
            self._buffer.append(report)
        if not self._scheduled:
            loop = self._loop
            if loop is None:
                return
            self._scheduled = True
            try:
                loop.call_soon_threadsafe(self._drain_soon)
            except RuntimeError:  # the loop is closing
                self._scheduled = False

    # --- the loop's side

    def _drain_soon(self) -> None:
        # Reports come in bursts (a publication is a dozen): gathering them for a couple
        # of milliseconds wakes the loop once per burst rather than once per report.
        if self._loop is not None:
            self._loop.call_later(DRAIN_DELAY, self._drain)

    def drain(self) -> None:
        """Handle every report waiting now (on the loop): before a receive is traced."""
        if self._buffer:
            self._drain()

    def _drain(self) -> None:
        # Reset first: a report appended after this line schedules another drain.
        self._scheduled = False
        buffer = self._buffer
        while buffer:
            report = buffer.popleft()
            try:
                self._handle(report)
            except Exception:
                logger.exception("embedded observer: %s not handled", type(report).__name__)
            self.handled += 1
        if self._dropped:
            with self._drop_lock:
                dropped, self._dropped = self._dropped, 0
            self._overflowed(dropped)
        if self._dirty and self._depth_timer is None and self._loop is not None:
            self._depth_timer = self._loop.call_later(DEPTH_INTERVAL, self._depth_flush)

    def _overflowed(self, dropped: int) -> None:
        self.dropped_total += dropped
        logger.warning("embedded observer fell behind: %d reports dropped", dropped)
        self._emitter.emit(
            Error, source="observer", code="ObserverOverflow",
            message=f"The live picture fell behind and skipped {dropped} broker reports; "
            "viewers are resynchronised.",
        )  # fmt: skip
        # Announced once a topology read that began after the drops has finished, so the
        # snapshot viewers fetch has whatever the lost reports would have announced.
        resync = ResourceReport(ts=time.time(), client=None, kind="flow", action="resync", arn="")
        self._pending.append((self._generation(), resync))
        self._dirty.update(self.depths)
        self._on_resource()

    def topology_read(self, generation: int, queue_arns: list[str]) -> None:
        """A topology read numbered ``generation`` finished.

        Resource changes are announced only now, once the snapshot a viewer fetches on
        ``resource_changed`` includes them; and queues new to the picture get a depth.
        """
        ready = [report for seen, report in self._pending if seen < generation]
        self._pending = [(seen, report) for seen, report in self._pending if seen >= generation]
        for report in ready:
            self._emitter.emit(
                ResourceChanged, kind=report.kind, action=report.action, arn=report.arn
            )
        for arn in list(self.depths):
            if arn not in queue_arns:
                del self.depths[arn]
        self._dirty.update(a for a in queue_arns if a not in self.depths)
        for arn in queue_arns:
            if arn not in self._expiry:
                self._expire_now(arn)
        self._depth_flush()

    def _depth_flush(self) -> None:
        self._depth_timer = None
        dirty, self._dirty = self._dirty, set()
        for arn in sorted(dirty):
            depth = self._depth_read(arn)
            if depth is None or depth == self.depths.get(arn):
                continue
            self.depths[arn] = depth
            self._emitter.emit(
                Depth, queue_arn=arn, visible=depth.visible, in_flight=depth.in_flight,
                delayed=depth.delayed,
            )  # fmt: skip

    def _trace(self, queue_arn: str, message_id: str) -> str:
        return (
            self._correlator.trace_known(queue_arn=queue_arn, message_id=message_id) or message_id
        )

    def _handle(self, report: Report) -> None:
        if isinstance(report, MessageSent):
            self._sent(report)
        elif isinstance(report, TopicPublished):
            self._correlator.publication_record(
                trace_id=report.message_id, topic_arn=report.topic_arn, subject=report.subject,
                body=report.body, attributes=report.attributes, group_id=report.group_id,
                source=_source(report.client), client=report.client,
            )  # fmt: skip
        elif isinstance(report, MessageReceived):
            self._received(report)
        elif isinstance(report, MessageDeleted):
            self._deleted(report)
        elif isinstance(report, VisibilitySet):
            self._visibility_set(report)
        elif isinstance(report, MessageDeadLettered):
            trace = self._trace(report.queue_arn, report.message_id)
            self._forget(self._in_flight.get((report.queue_arn, report.message_id)))
            self._correlator.trace_remember(
                queue_arn=report.dead_letter_arn, message_id=report.message_id, trace_id=trace
            )
            self._emitter.emit(
                DeadLettered, trace_id=trace, queue_arn=report.queue_arn,
                dead_letter_arn=report.dead_letter_arn, message_id=report.message_id,
                receive_count=report.receive_count,
            )  # fmt: skip
            self._dirty.update((report.queue_arn, report.dead_letter_arn))
        elif isinstance(report, CopyFiltered):
            self._emitter.emit(
                Filtered, trace_id=report.message_id, topic_arn=report.topic_arn,
                subscription_arn=report.subscription_arn, protocol=report.protocol,
                endpoint=report.endpoint, reason=report.reason,
            )  # fmt: skip
        elif isinstance(report, CopyDelivered):
            self._emitter.emit(
                Delivered, trace_id=report.message_id, topic_arn=report.topic_arn,
                subscription_arn=report.subscription_arn, protocol=report.protocol,
                endpoint=report.endpoint, body=report.body,
            )  # fmt: skip
        elif isinstance(report, CopyFailed):
            self._emitter.emit(
                Error, source="delivery", code="DeliveryFailed", resource=report.endpoint,
                message=f"Message {report.message_id} could not be delivered to "
                f"{report.endpoint}: {report.reason}",
            )  # fmt: skip
        elif isinstance(report, MessageDeduplicated):
            self._emitter.emit(
                Deduplicated, trace_id=self._trace(report.queue_arn, report.duplicate_of),
                queue_arn=report.queue_arn, message_id=report.message_id,
                deduplication_id=report.deduplication_id,
                topic_arn=report.via_topic[0] if report.via_topic else None, client=report.client,
            )  # fmt: skip
        elif isinstance(report, ResourceReport):
            self._resource(report)

    def _sent(self, report: MessageSent) -> None:
        if report.via_topic is not None:
            topic_arn, trace, subscription_arn = report.via_topic
            self._correlator.copy_record(
                trace_id=trace, topic_arn=topic_arn, subscription_arn=subscription_arn,
                queue_arn=report.queue_arn, message_id=report.message_id,
            )  # fmt: skip
        else:
            self._correlator.direct_observe(
                trace_id=report.message_id, queue_arn=report.queue_arn,
                body=report.body[:BODY_PREVIEW_CHARS], source=_source(report.client),
                attributes=report.attributes, group_id=report.group_id, client=report.client,
            )  # fmt: skip
        self._dirty.add(report.queue_arn)
        self._expiry_arm(report.queue_arn, report.ts + report.retention_seconds)
        if report.delay_seconds and self._loop is not None:
            # Delayed messages turn visible with no request: read the depth then.
            self._loop.call_later(report.delay_seconds + 0.01, self._mark, report.queue_arn)

    def _expiry_arm(self, queue_arn: str, due: float) -> None:
        """Make sure a sweep runs when the queue's oldest message expires."""
        armed = self._expiry.get(queue_arn)
        if (armed is not None and armed[0] <= due) or self._loop is None:
            return
        if armed is not None:
            armed[1].cancel()
        delay = max(0.0, due - time.time()) + EXPIRY_SLACK
        self._expiry[queue_arn] = (due, self._loop.call_later(delay, self._expire_now, queue_arn))

    def _expire_now(self, queue_arn: str) -> None:
        armed = self._expiry.pop(queue_arn, None)
        if armed is not None:
            armed[1].cancel()
        expired, next_due = self._expire(queue_arn)
        for message_id, receive_count in expired:
            self._forget(self._in_flight.get((queue_arn, message_id)))
            self._emitter.emit(
                Expired, trace_id=self._trace(queue_arn, message_id), queue_arn=queue_arn,
                message_id=message_id, receive_count=receive_count,
            )  # fmt: skip
        if expired:
            self._mark(queue_arn)
        if next_due is not None:
            self._expiry_arm(queue_arn, next_due)

    def _mark(self, queue_arn: str) -> None:
        self._dirty.add(queue_arn)
        if self._depth_timer is None and self._loop is not None:
            self._depth_timer = self._loop.call_later(DEPTH_INTERVAL, self._depth_flush)

    def _received(self, report: MessageReceived) -> None:
        key = (report.queue_arn, report.message_id)
        trace = self._trace(*key)
        earlier = self._in_flight.get(key)
        if earlier is not None:
            if earlier.visible_at_ms <= report.ts * 1000:
                self._lapsed(key, earlier.visible_at_ms)  # its timer had not run yet
            else:
                self._forget(earlier)
        if report.client != FLOWDASH_CLIENT:
            consumer = self._consumer(report.client, report.queue_arn)
            consumer.busy = True
            self._emitter.emit(
                Received, trace_id=trace, queue_arn=report.queue_arn, worker=consumer.name,
                message_id=report.message_id, receive_count=report.receive_count,
                group_id=report.group_id,
            )  # fmt: skip
        if len(self._in_flight) < IN_FLIGHT_LIMIT:
            entry = _InFlight(
                trace_id=trace, queue_arn=report.queue_arn, message_id=report.message_id,
                receive_count=report.receive_count, visible_at_ms=report.visible_at_ms,
                received_at=report.ts, client=report.client, handles=[report.receipt_handle],
            )  # fmt: skip
            self._in_flight[key] = entry
            self._handles[report.receipt_handle] = key
            self._arm(entry)
        self._dirty.add(report.queue_arn)

    def _arm(self, entry: _InFlight) -> None:
        if self._loop is None:
            return
        delay = max(0.0, entry.visible_at_ms / 1000 - time.time()) + 0.002
        entry.timer = self._loop.call_later(
            delay, self._lapsed, (entry.queue_arn, entry.message_id), entry.visible_at_ms
        )

    def _lapsed(self, key: tuple[str, str], visible_at_ms: float) -> None:
        entry = self._in_flight.get(key)
        if entry is None or entry.visible_at_ms != visible_at_ms:
            return  # deleted, or its timeout was changed since
        self._forget(entry)
        self._emitter.emit(
            VisibilityLapsed, trace_id=entry.trace_id, queue_arn=entry.queue_arn,
            message_id=entry.message_id, receive_count=entry.receive_count,
        )  # fmt: skip
        self._mark(entry.queue_arn)

    def _forget_queue(self, queue_arn: str) -> None:
        """The queue was deleted or purged: none of its messages is in flight any more."""
        for entry in [e for e in self._in_flight.values() if e.queue_arn == queue_arn]:
            self._forget(entry)

    def _forget(self, entry: _InFlight | None) -> None:
        if entry is None:
            return
        self._in_flight.pop((entry.queue_arn, entry.message_id), None)
        for handle in entry.handles:
            self._handles.pop(handle, None)
        if entry.timer is not None:
            entry.timer.cancel()

    def _deleted(self, report: MessageDeleted) -> None:
        self._dirty.add(report.queue_arn)
        key = self._handles.get(report.receipt_handle)
        entry = self._in_flight.get(key) if key else None
        if entry is None:
            return  # deleted again, or received before the observer started
        self._forget(entry)
        # Credited to the consumer that received it: one program may receive and delete
        # through different HTTP clients (Celery's kombu: pycurl, then boto3).
        if entry.client != FLOWDASH_CLIENT:
            consumer = self._consumer(entry.client, report.queue_arn)
            consumer.processed += 1
            consumer.busy = False
            self._emitter.emit(
                Processed, trace_id=entry.trace_id, queue_arn=report.queue_arn,
                worker=consumer.name, message_id=entry.message_id,
                duration_ms=max(0, int((report.ts - entry.received_at) * 1000)),
            )  # fmt: skip

    def _holder(self, entry: _InFlight) -> str:
        """Who holds an in-flight message: the consumer that received it."""
        if entry.client == FLOWDASH_CLIENT:
            return FLOWDASH_CLIENT
        return self._consumer(entry.client, entry.queue_arn).name

    def _consumer(self, client: str | None, queue_arn: str) -> WorkerStats:
        """An outside client consuming a queue: one consumer per client and queue, named
        ``<client> on <queue>``. A new one is a change of the picture's shape, so
        viewers resync and the snapshot carries it."""
        name = f"{client or 'unknown client'} on {queue_arn.rsplit(':', 1)[-1]}"
        consumer = self._consumers.get(name)
        if consumer is None:
            consumer = self._consumers[name] = WorkerStats(name=name, queue_arn=queue_arn)
            self._emitter.emit(ResourceChanged, kind="workers", action="changed", arn=queue_arn)
        return consumer

    def _visibility_set(self, report: VisibilitySet) -> None:
        self._dirty.add(report.queue_arn)
        key = self._handles.get(report.receipt_handle)
        entry = self._in_flight.get(key) if key else None
        if entry is None:
            return
        self._emitter.emit(
            VisibilityChanged, trace_id=entry.trace_id, queue_arn=report.queue_arn,
            message_id=entry.message_id, worker=self._holder(entry),
            timeout_seconds=report.timeout_seconds,
        )  # fmt: skip
        if report.timeout_seconds <= 0:
            self._forget(entry)  # visible again at once: the event above says so
            return
        if entry.timer is not None:
            entry.timer.cancel()
        entry.visible_at_ms = report.ts * 1000 + report.timeout_seconds * 1000
        self._arm(entry)

    def _resource(self, report: ResourceReport) -> None:
        if report.action == "purged":
            self._emitter.emit(
                ResourceChanged, kind=report.kind, action=report.action, arn=report.arn
            )  # the topology is the same: no read to wait for
        else:
            self._pending.append((self._generation(), report))
        if report.kind == "queue":
            if report.action == "deleted":
                self.depths.pop(report.arn, None)
                armed = self._expiry.pop(report.arn, None)
                if armed is not None:
                    armed[1].cancel()
                for name in [n for n, c in self._consumers.items() if c.queue_arn == report.arn]:
                    if "#" not in name:  # Flowdash's own workers stop by themselves
                        del self._consumers[name]
                self._forget_queue(report.arn)
            else:
                self._dirty.add(report.arn)
                if report.action == "changed":
                    self._expire_now(report.arn)  # the retention period may have changed
            if report.action == "purged":
                self._forget_queue(report.arn)
        if report.action != "purged":
            self._on_resource()

    def close(self) -> None:
        for entry in list(self._in_flight.values()):
            self._forget(entry)
        if self._depth_timer is not None:
            self._depth_timer.cancel()
        for _, timer in self._expiry.values():
            timer.cancel()
        self._expiry.clear()
        self._loop = None


def _source(client: str | None) -> str:
    return "flowdash" if client == FLOWDASH_CLIENT else "external"
