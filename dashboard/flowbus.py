"""The flow bus: the one way flow events leave the engine.

It runs the engine (in the Daphne process by default, in ``manage.py
flowwatch`` when scaled out) and turns its flow events into:

- frames for browsers, sent to the channel-layer group ``flow``, at most one per
  ``FRAME_INTERVAL`` (20 a second). A frame covers a range of sequence numbers
  and counts every event in it; at high rates it carries a sample of whole
  journeys rather than every event, so a burst never becomes a backlog.
- rows in the database, written in batches and pruned to a retention limit.

It also answers commands sent to the ``flowwatch`` channel (a snapshot for a new
viewer, worker changes, "the topology changed"), so views and socket consumers
in any process reach the engine the same way. Only this module calls
``group_send``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from messaging.burst import Burst
from messaging.engine import FlowEngine
from messaging.events import FlowEmitter, FlowEvent
from messaging.publishing import received_message
from messaging.validation import MessageAttribute
from messaging.workers import WorkerSpec

from .backend import connection

logger = logging.getLogger(__name__)

GROUP = "flow"
COMMANDS = "flowwatch"
FRAME_INTERVAL = 0.05
MAX_FRAME_EVENTS = 200
SAMPLE_TRACES = 25
PERSIST_INTERVAL = 0.5
RECENT_EVENTS = 200
STATE_EVENTS = {"depth", "resource_changed", "error"}


def frame_build(events: list[FlowEvent]) -> dict[str, Any]:
    """One frame from the events of one interval: counts for all, details for a sample."""
    counts: Counter[str] = Counter()
    for event in events:
        counts[f"{event.type}|{_resource(event)}"] += 1  # type: ignore[attr-defined]
    sampled = len(events) > MAX_FRAME_EVENTS
    if sampled:
        traces: list[str] = []
        for event in events:
            if event.trace and event.trace not in traces and len(traces) < SAMPLE_TRACES:
                traces.append(event.trace)
        keep = set(traces)
        # Depth is state: the newest sample per queue is enough.
        latest = {e.queue_arn: e.seq for e in events if e.type == "depth"}  # type: ignore[attr-defined]
        detail = [
            e for e in events
            if (e.trace in keep)
            or (e.type in STATE_EVENTS and e.type != "depth")  # type: ignore[attr-defined]
            or e.seq in latest.values()
        ]  # fmt: skip
    else:
        detail = events
    return {
        "from_seq": events[0].seq,
        "to_seq": events[-1].seq,
        "events": [e.to_dict() for e in detail],
        "counts": dict(counts),
        "sampled": sampled,
    }


def frame_text(events: list[FlowEvent]) -> str:
    """The frame as the text every socket sends: encoded here, once for all viewers.

    Encoding per socket consumer cost about a millisecond per viewer per frame,
    which at 200 viewers left the stream seconds behind.
    """
    return json.dumps({"type": "frame", **frame_build(events)}, separators=(",", ":"))


def _resource(event: FlowEvent) -> str:
    for name in ("endpoint", "queue_arn", "topic_arn", "arn", "resource"):
        value = getattr(event, name, None)
        if value:
            return str(value)
    return ""


class FlowBus:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.engine: FlowEngine | None = None
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self._pending: list[FlowEvent] = []
        self._unsaved: list[FlowEvent] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.started = asyncio.Event()

    async def start(self) -> None:
        from .models import FlowEventRecord, WorkerSetting

        last = await database_sync_to_async(
            lambda: FlowEventRecord.objects.order_by("-seq").values_list("seq", flat=True).first()
        )()
        emitter = FlowEmitter(start_seq=(last or 0) + 1)
        emitter.subscribe(self._collect)
        self.engine = FlowEngine(connection(), emitter, watcher_options=settings.FLOWDASH_WATCHER)
        self._tasks = [
            asyncio.create_task(self._frames(), name="flowbus frames"),
            asyncio.create_task(self._persist(), name="flowbus persist"),
            asyncio.create_task(self._commands(), name="flowbus commands"),
        ]
        specs = await database_sync_to_async(lambda: list(WorkerSetting.objects.all()))()
        await self.engine.start()
        for row in specs:
            self.engine.workers_set(row.queue_arn, worker_spec(row))
        self.started.set()
        logger.info("flow engine started at seq %s", emitter.last_seq + 1)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.engine is not None:
            await self.engine.stop()
        await self._save()

    def _collect(self, event: FlowEvent) -> None:
        self._pending.append(event)
        self._unsaved.append(event)
        self.recent.append(event.to_dict())
        self._wake.set()

    async def _frames(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            events, self._pending = self._pending, []
            if events:
                sent_at = loop.time()
                await self.layer.group_send(
                    GROUP, {"type": "flow.frame", "text": frame_text(events)}
                )
                await asyncio.sleep(max(0.0, FRAME_INTERVAL - (loop.time() - sent_at)))

    async def _persist(self) -> None:
        prune_every = 60.0
        loop = asyncio.get_running_loop()
        pruned_at = loop.time()
        while True:
            await asyncio.sleep(PERSIST_INTERVAL)
            try:
                await self._save()
                if loop.time() - pruned_at > prune_every:
                    pruned_at = loop.time()
                    await database_sync_to_async(events_prune)()
            except Exception:  # a failed write must not stop the stream
                logger.exception("storing flow events failed")

    async def _save(self) -> None:
        events, self._unsaved = self._unsaved, []
        if events:
            await database_sync_to_async(events_store)(events)

    async def _commands(self) -> None:
        while True:
            message = await self.layer.receive(COMMANDS)
            try:
                await self._command(message)
            except Exception:
                logger.exception("flow command %s failed", message.get("type"))

    async def _command(self, message: dict[str, Any]) -> None:
        engine = self.engine
        assert engine is not None
        kind = message.get("type")
        if kind == "snapshot.request":
            await self.layer.send(
                message["reply_to"], {"type": "flow.snapshot", "snapshot": self.snapshot()}
            )
        elif kind == "topology.changed":
            engine.refresh_soon()
        elif kind == "workers.set":
            engine.workers_set(message["queue_arn"], WorkerSpec(**message["spec"]))
        elif kind == "consumer.received":
            await engine.workers.external_received(
                queue_arn=message["queue_arn"], worker=message["worker"],
                message=received_message(message["message"]),
            )  # fmt: skip
        elif kind == "consumer.outcome":
            await engine.workers.external_outcome(
                queue_arn=message["queue_arn"], worker=message["worker"],
                message=received_message(message["message"]), ok=message["ok"],
                reason=message.get("reason", ""), duration_ms=message.get("duration_ms", 0),
            )  # fmt: skip
        elif kind == "consumer.leave":
            engine.workers.external_leave(message["worker"])
        elif kind == "burst.start":
            engine.burst_start(burst_from(message["burst"]))
        elif kind == "messages.sent":
            engine.sent_note(queue_url=message["queue_url"], messages=message["messages"])

    def snapshot(self) -> dict[str, Any]:
        assert self.engine is not None
        return {**self.engine.snapshot(), "recent": list(self.recent)}


def burst_from(data: dict[str, Any]) -> Burst:
    attributes = tuple(MessageAttribute(**a) for a in data.get("attributes", ()))
    return Burst(**{**data, "attributes": attributes})


def worker_spec(row: Any) -> WorkerSpec:
    return WorkerSpec(
        count=row.count, min_ms=row.min_ms, max_ms=row.max_ms, failure_rate=row.failure_rate,
        poison_marker=row.poison_marker, batch_size=row.batch_size,
    )  # fmt: skip


def events_store(events: list[FlowEvent]) -> None:
    from .models import FlowEventRecord

    FlowEventRecord.objects.bulk_create(
        [
            FlowEventRecord(
                seq=e.seq,
                ts=datetime.fromtimestamp(e.ts, tz=UTC),
                type=e.type,  # type: ignore[attr-defined]
                trace_id=e.trace or "",
                resource=_resource(e)[:300],
                data=e.to_dict(),
            )
            for e in events
        ],
        ignore_conflicts=True,
    )


def events_prune() -> int:
    from .models import FlowEventRecord

    newest = FlowEventRecord.objects.order_by("-seq").values_list("seq", flat=True).first()
    if newest is None:
        return 0
    deleted, _ = FlowEventRecord.objects.filter(
        seq__lte=newest - settings.FLOWDASH_EVENT_RETENTION
    ).delete()
    return deleted


# The in-process engine ---------------------------------------------------------------

_bus: FlowBus | None = None
_lock: asyncio.Lock | None = None


async def ensure_running() -> FlowBus | None:
    """Start the engine in this process, once, unless ``flowwatch`` runs it elsewhere."""
    global _bus, _lock
    if settings.FLOWDASH_ENGINE != "inprocess":
        return None
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if _bus is None:
            bus = FlowBus()
            await bus.start()
            _bus = bus
    return _bus


async def shutdown() -> None:
    global _bus, _lock
    if _bus is not None:
        await _bus.stop()
    _bus = None
    _lock = None


def command_send(kind: str, **payload: Any) -> None:
    """Ask the engine, wherever it runs, to do something. Safe from sync views."""
    layer = get_channel_layer()
    try:
        async_to_sync(layer.send)(COMMANDS, {"type": kind, **payload})
    except Exception as exc:  # the engine being away must not break the page that changed AWS
        logger.warning("flow command %s not sent: %s", kind, exc)
