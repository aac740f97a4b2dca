"""Simulated workers: consumers of one queue that behave as real ones do.

A worker long-polls for a batch, "processes" each message for a set time,
succeeds or fails (a failure rate, or a poison marker in the body), deletes
what succeeded in one DeleteMessageBatch, and lets failures sit until their
visibility timeout lapses so SQS delivers them again, and after
maxReceiveCount moves them to the dead-letter queue. A worker never deletes a
message it did not process. Several workers on one queue compete.

SQS moves a message to the DLQ during a later ReceiveMessage, not when it
fails. So a failure at the last allowed receive marks the message as doomed;
the first receive on that queue after its visibility lapsed that scanned the
whole queue (returned less than a full batch) without returning it confirms
the move, and only then is ``dead_lettered`` emitted.

Cost: with busy workers, one receive and one delete per batch of up to 10
(0.2 requests per message); idle, one 20 s long poll per worker (3 a minute).
SQS (and moto) answers a long poll as soon as any message is there, so batches
can come back part-full; measured on topic fanout (1,000 publishes, 2 queues,
2 workers x 10 ms), workers' receives already averaged ~9.5 messages, so they do
not wait to fill a batch: that would add latency and save next to nothing.

Workers tell the watcher what each receive and delete did to the queue's depth
(`DepthNews`), so the diagram's bars follow them without GetQueueAttributes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from .aio import AwsRunner
from .connection import Connection
from .correlation import Correlator
from .errors import FlowdashError, InvalidInput, ResourceNotFound
from .events import (
    DeadLettered,
    Error,
    Failed,
    FlowEmitter,
    Processed,
    Received,
    ResourceChanged,
)
from .publishing import ReceivedMessage, received_message
from .resources import Queue
from .supervisor import Supervisor
from .watcher import DepthNews, backoff

logger = logging.getLogger(__name__)


class DepthListener(Protocol):
    """Told when a queue's depth changed: what a worker did, or (no news) that it did."""

    def __call__(self, queue_arn: str, news: DepthNews | None = None, /) -> None: ...


def _no_listener(queue_arn: str, news: DepthNews | None = None, /) -> None:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSpec:
    """How the workers of one queue behave; changes apply from their next batch."""

    count: int = 1
    min_ms: int = 500
    max_ms: int = 500
    failure_rate: float = 0.0
    poison_marker: str = "poison"
    batch_size: int = 10
    wait_seconds: int = 20

    def validate(self) -> WorkerSpec:
        if not 0 <= self.count <= 50:
            raise InvalidInput("Between 0 and 50 workers per queue.", field="count")
        if not 0 <= self.min_ms <= self.max_ms <= 600_000:
            raise InvalidInput(
                "Processing time: 0 <= minimum <= maximum <= 600000 ms.", field="min_ms"
            )
        if not 0.0 <= self.failure_rate <= 1.0:
            raise InvalidInput("The failure rate is between 0 and 1.", field="failure_rate")
        if not 1 <= self.batch_size <= 10:
            raise InvalidInput("A batch holds 1 to 10 messages.", field="batch_size")
        if not 0 <= self.wait_seconds <= 20:
            raise InvalidInput("Long polling waits 0 to 20 seconds.", field="wait_seconds")
        return self


@dataclass(slots=True)
class WorkerStats:
    name: str
    queue_arn: str
    busy: bool = False
    processed: int = 0
    failed: int = 0


@dataclass(slots=True)
class _Doomed:
    trace_id: str
    receive_count: int
    visible_at: float


@dataclass(slots=True)
class _QueueWorkers:
    spec: WorkerSpec
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    doomed: dict[str, _Doomed] = field(default_factory=dict)
    serial: int = 0


class WorkerPool:
    def __init__(
        self,
        conn: Connection,
        emitter: FlowEmitter,
        correlator: Correlator,
        run: AwsRunner,
        *,
        on_activity: DepthListener = _no_listener,
        dead_letters_observed: bool = False,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.conn = conn
        #: Runs the workers and their background deletes: restarted when they fail.
        self.supervisor = supervisor or Supervisor()
        #: The embedded observer reports DLQ moves as the broker makes them: no guessing.
        self.dead_letters_observed = dead_letters_observed
        self.emitter = emitter
        self.correlator = correlator
        self.run = run
        self.on_activity = on_activity
        self.stats: dict[str, WorkerStats] = {}
        self._queues: dict[str, _QueueWorkers] = {}
        #: Batches' deletes still running (a worker does not wait for its last one).
        self._deletes: set[asyncio.Task[None]] = set()
        #: Long polls of stopped workers, still waiting on their threads.
        self._abandoned_polls: set[asyncio.Future[Any]] = set()

    def spec(self, queue_arn: str) -> WorkerSpec | None:
        group = self._queues.get(queue_arn)
        return group.spec if group else None

    def set(self, queue_arn: str, spec: WorkerSpec) -> None:
        """Run ``spec.count`` workers on the queue, starting or stopping the difference."""
        spec.validate()
        group = self._queues.setdefault(queue_arn, _QueueWorkers(spec=spec))
        group.spec = spec
        while len(group.tasks) < spec.count:
            group.serial += 1
            name = f"{queue_arn.rsplit(':', 1)[-1]}#{group.serial}"
            self.stats[name] = WorkerStats(name=name, queue_arn=queue_arn)
            group.tasks[name] = self.supervisor.loop(
                "worker", partial(self._work, queue_arn, name), resource=queue_arn,
                key=f"worker {name}",
            )  # fmt: skip
        while len(group.tasks) > spec.count:
            name, task = group.tasks.popitem()
            task.cancel()
            self.stats.pop(name, None)

    def names(self, queue_arn: str) -> list[str]:
        group = self._queues.get(queue_arn)
        return list(group.tasks) if group else []

    async def stop_all(self) -> None:
        tasks = [t for g in self._queues.values() for t in g.tasks.values()]
        tasks += list(self._deletes)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # The workers just cancelled left their long polls here as they stopped.
        polls = list(self._abandoned_polls)
        for poll in polls:
            poll.cancel()
        await asyncio.gather(*polls, return_exceptions=True)
        self._queues.clear()
        self.stats.clear()

    async def external_received(
        self, *, queue_arn: str, worker: str, message: ReceivedMessage
    ) -> str:
        """A consumer outside Flowdash's control (a student's phone) received a message:
        it shows as a worker like any other. Returns the message's trace id."""
        stats = self.stats.setdefault(worker, WorkerStats(name=worker, queue_arn=queue_arn))
        stats.busy = True
        trace = await self.correlator.trace_for(message, queue_arn=queue_arn)
        self.emitter.emit(
            Received, trace_id=trace, queue_arn=queue_arn, worker=worker,
            message_id=message.message_id, receive_count=message.receive_count,
            group_id=message.message_group_id,
        )  # fmt: skip
        self.on_activity(queue_arn)
        return trace

    async def external_outcome(
        self, *, queue_arn: str, worker: str, message: ReceivedMessage, ok: bool,
        reason: str = "", duration_ms: int = 0,
    ) -> None:  # fmt: skip
        """The outside consumer processed (and deleted) the message, or gave up on it."""
        stats = self.stats.setdefault(worker, WorkerStats(name=worker, queue_arn=queue_arn))
        stats.busy = False
        trace = await self.correlator.trace_for(message, queue_arn=queue_arn)
        if ok:
            stats.processed += 1
            self.emitter.emit(
                Processed, trace_id=trace, queue_arn=queue_arn, worker=worker,
                message_id=message.message_id, duration_ms=duration_ms,
            )  # fmt: skip
        else:
            stats.failed += 1
            self.emitter.emit(
                Failed, trace_id=trace, queue_arn=queue_arn, worker=worker,
                message_id=message.message_id, receive_count=message.receive_count,
                reason=reason or f"{worker} marked it failed",
            )  # fmt: skip
        self.on_activity(queue_arn)

    def external_leave(self, worker: str) -> None:
        stats = self.stats.pop(worker, None)
        if stats is not None:  # the snapshot no longer lists it: viewers resync
            self.emitter.emit(
                ResourceChanged, kind="workers", action="changed", arn=stats.queue_arn
            )

    def _retire(self, queue_arn: str, name: str) -> None:
        group = self._queues.get(queue_arn)
        if group is not None:
            group.tasks.pop(name, None)
        if self.stats.pop(name, None) is not None:
            self.emitter.emit(ResourceChanged, kind="workers", action="changed", arn=queue_arn)

    async def _work(self, queue_arn: str, name: str) -> None:
        attempt = 0
        settling: asyncio.Task[None] | None = None  # the last batch's delete, still running
        while True:
            queue = self.correlator.index.queues.get(queue_arn)
            group = self._queues[queue_arn]
            if queue is None:
                self.emitter.emit(
                    Error, source="worker", resource=queue_arn,
                    message=f"Worker {name} stopped: its queue no longer exists.",
                )  # fmt: skip
                self._retire(queue_arn, name)
                return
            try:
                settling_next = await self._batch(queue, group, name)
                if settling is not None:
                    await settling  # one delete in flight per worker
                settling = settling_next
                attempt = 0
            except asyncio.CancelledError:
                raise
            except ResourceNotFound:
                self.emitter.emit(
                    Error, source="worker", resource=queue_arn, code="QueueDoesNotExist",
                    message=f"Worker {name} stopped: its queue was deleted.",
                )  # fmt: skip
                self._retire(queue_arn, name)
                return
            except FlowdashError as exc:
                self.emitter.emit(
                    Error, source="worker", resource=queue_arn, code=exc.code, message=exc.message
                )
                attempt += 1
                await asyncio.sleep(backoff(attempt))

    async def _batch(
        self, queue: Queue, group: _QueueWorkers, name: str
    ) -> asyncio.Task[None] | None:
        """Receive and process one batch, telling the watcher each step.

        The delete of a standard queue's batch is returned as a running task, so the
        next receive need not wait for it: one round trip less per batch, which is
        most of a worker's latency against real AWS. A FIFO batch is deleted before
        returning: its group stays locked until then, so the next receive would
        find nothing of it anyway.
        """
        spec = group.spec
        visibility = int(queue.attributes.get("VisibilityTimeout", 30))
        # Never take more than can be processed before the first ones reappear.
        affordable = (visibility * 1000) // max(spec.max_ms, 1) if spec.max_ms else 10
        batch = max(1, min(spec.batch_size, affordable))
        started = time.time()
        wait = spec.wait_seconds
        if group.doomed:
            # A message is due to move to the DLQ at the next receive after it reappears:
            # don't sit in a 20 s long poll past that moment, or the move shows late.
            due = min(d.visible_at for d in group.doomed.values()) - started
            wait = max(1, min(wait, math.ceil(due) + 1))
        poll = asyncio.ensure_future(
            self.run(
                self.conn.sqs.receive_message,
                QueueUrl=queue.url,
                MaxNumberOfMessages=batch,
                WaitTimeSeconds=wait,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
        )
        try:
            response = await asyncio.shield(poll)
        except asyncio.CancelledError:
            poll.add_done_callback(partial(self._abandoned_poll_release, queue))
            self._abandoned_polls.add(poll)  # cancelled by stop_all: nothing outlives it
            poll.add_done_callback(self._abandoned_polls.discard)
            raise
        received_at = time.time()
        messages = [received_message(m) for m in response.get("Messages", [])]
        self._confirm_dead_letters(queue, group, started, messages, full=len(messages) >= batch)
        if not messages:
            if wait:
                self.on_activity(queue.arn, DepthNews(empty_poll=True))
            return None
        self.on_activity(queue.arn, DepthNews(received=len(messages)))
        try:
            done = await self._process(queue, group, name, messages, received_at)
        except BaseException:
            # Always close the batch, or the watcher would wait on it forever.
            self.on_activity(queue.arn, DepthNews(settled=True, failed=True))
            raise
        settle = self._settle(queue, done, received=len(messages))
        if queue.fifo:
            await settle
            return None
        deleting = self.supervisor.spawn(settle, name=f"delete {name}")
        self._deletes.add(deleting)
        deleting.add_done_callback(self._deletes.discard)
        return deleting

    def _abandoned_poll_release(self, queue: Queue, poll: asyncio.Future[Any]) -> None:
        """A stopped worker's long poll goes on in its thread (a boto3 call cannot be
        interrupted) and may still take messages nobody will process: hand them back
        at once instead of leaving them hidden for the visibility timeout. Their
        receive count has gone up, as with any consumer that leaves mid-poll."""
        if poll.cancelled() or poll.exception() is not None:
            return
        handles = [m["ReceiptHandle"] for m in poll.result().get("Messages", [])]
        if not handles:
            return
        release = self.run(
            self.conn.sqs.change_message_visibility_batch,
            QueueUrl=queue.url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles)
            ],
        )
        self.supervisor.background(release, name=f"release {queue.name}", resource=queue.arn)

    async def _settle(self, queue: Queue, done: list[ReceivedMessage], *, received: int) -> None:
        """Delete what was processed, then close the batch for the watcher."""
        deleted = 0
        try:
            deleted = await self._delete(queue, done) if done else 0
        finally:
            self.on_activity(
                queue.arn, DepthNews(deleted=deleted, settled=True, failed=deleted < received)
            )

    async def _process(
        self, queue: Queue, group: _QueueWorkers, name: str,
        messages: list[ReceivedMessage], received_at: float,
    ) -> list[ReceivedMessage]:  # fmt: skip
        """Process a received batch; returns the messages to delete."""
        spec = group.spec
        visibility = int(queue.attributes.get("VisibilityTimeout", 30))
        stats = self.stats[name]
        done: list[ReceivedMessage] = []
        failed_groups: set[str] = set()
        for message in messages:
            trace = await self.correlator.trace_for(message, queue_arn=queue.arn)
            self.emitter.emit(
                Received, trace_id=trace, queue_arn=queue.arn, worker=name,
                message_id=message.message_id, receive_count=message.receive_count,
                group_id=message.message_group_id,
            )  # fmt: skip
            reason: str | None  # why processing failed; None when it succeeded
            if message.message_group_id in failed_groups:
                reason = (
                    f"an earlier message of group {message.message_group_id} failed; "
                    "FIFO keeps the group's order, so this one waits too"
                )
            else:
                stats.busy = True
                begun = time.monotonic()
                await asyncio.sleep(random.uniform(spec.min_ms, spec.max_ms) / 1000)
                stats.busy = False
                reason = self._failure(message, spec)
            if reason is None:
                stats.processed += 1
                done.append(message)
                self.emitter.emit(
                    Processed, trace_id=trace, queue_arn=queue.arn, worker=name,
                    message_id=message.message_id,
                    duration_ms=int((time.monotonic() - begun) * 1000),
                )  # fmt: skip
                continue
            stats.failed += 1
            if message.message_group_id:
                failed_groups.add(message.message_group_id)
            self.emitter.emit(
                Failed, trace_id=trace, queue_arn=queue.arn, worker=name,
                message_id=message.message_id, receive_count=message.receive_count, reason=reason,
            )  # fmt: skip
            if queue.max_receive_count and message.receive_count >= queue.max_receive_count:
                group.doomed[message.message_id] = _Doomed(
                    trace_id=trace,
                    receive_count=message.receive_count,
                    visible_at=received_at + visibility,
                )
        return done

    @staticmethod
    def _failure(message: ReceivedMessage, spec: WorkerSpec) -> str | None:
        text = message.envelope.message if message.envelope else message.body
        if spec.poison_marker and spec.poison_marker in text:
            return f"poison message (its body contains {spec.poison_marker!r})"
        if spec.failure_rate and random.random() < spec.failure_rate:
            return f"random failure ({spec.failure_rate:.0%} of messages fail)"
        return None

    async def _delete(self, queue: Queue, messages: list[ReceivedMessage]) -> int:
        """Delete processed messages in one request; returns how many SQS deleted."""
        response = await self.run(
            self.conn.sqs.delete_message_batch,
            QueueUrl=queue.url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)
            ],
        )
        for failure in response.get("Failed", []):
            message = messages[int(failure["Id"])]
            self.emitter.emit(
                Error, source="worker", resource=queue.arn, code=failure.get("Code"),
                message=f"Could not delete message {message.message_id} after processing it "
                f"({failure.get('Message', 'no reason given')}); SQS will deliver it again.",
            )  # fmt: skip
        return len(messages) - len(response.get("Failed", []))

    def _confirm_dead_letters(
        self, queue: Queue, group: _QueueWorkers, started: float,
        messages: list[ReceivedMessage], *, full: bool,
    ) -> None:  # fmt: skip
        if not group.doomed or self.dead_letters_observed:
            group.doomed.clear()
            return
        returned = {m.message_id for m in messages}
        for message_id, doomed in list(group.doomed.items()):
            if message_id in returned:
                del group.doomed[message_id]  # came back after all; it will be judged again
            elif not full and doomed.visible_at <= started and queue.dead_letter_arn:
                del group.doomed[message_id]
                self.emitter.emit(
                    DeadLettered, trace_id=doomed.trace_id, queue_arn=queue.arn,
                    dead_letter_arn=queue.dead_letter_arn, message_id=message_id,
                    receive_count=doomed.receive_count,
                )  # fmt: skip
                self.on_activity(queue.dead_letter_arn)
                self.on_activity(queue.arn)  # it left the queue's in-flight count
