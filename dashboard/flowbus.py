"""The flow bus: the one way flow events leave the engine.

It runs the engine (in the Daphne process by default, in ``manage.py
flowwatch`` when scaled out) and turns its flow events into:

- frames for browsers, sent to the channel-layer group ``flow``, at most one per
  ``FRAME_INTERVAL`` (20 a second). A frame covers a range of sequence numbers
  and counts every event in it; at high rates it carries a sample of whole
  journeys rather than every event, so a burst never becomes a backlog.
- rows in the database, written in batches and pruned to a retention limit.

It also answers commands (a snapshot for a new viewer, worker changes, "the
topology changed"). Socket consumers send theirs to the ``flowwatch`` channel,
whichever process runs the engine. `command_send` (views, and the engine's own
threads, through ``Connection.notify``) hands a command straight to the engine's
loop when the engine runs in this process, and uses the channel layer only when
it runs elsewhere (``FLOWDASH_ENGINE=external``): an ``async_to_sync`` send from a
worker thread into the in-memory layer reached an idle loop seconds late.

Every loop here runs under the engine's supervisor (messaging.supervisor): a loop
that fails is logged, restarted and shown to viewers as an ``error`` event, and
`engine_health` tells ``/healthz`` each loop's state. Only this module calls
``group_send``, and the push hub it runs (``pushhub``: every notification to the
classroom phone whose device got it, unsampled).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, deque
from datetime import UTC, datetime
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from messaging.burst import Burst
from messaging.engine import FlowEngine
from messaging.events import Depth, Error, FlowEmitter, FlowEvent, ResourceChanged
from messaging.publishing import received_message
from messaging.validation import MessageAttribute
from messaging.workers import WorkerSpec

from . import pushhub
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
#: How long a start may wait for the backend (the first topology read, the taps).
START_WITHIN = 15.0
#: After a failed start, sockets connecting within this many seconds are told the
#: engine is unavailable at once instead of each waiting out a start of its own.
START_RETRY_SECONDS = 5.0
#: A participant who published within this many seconds shows as a producer node.
PRODUCER_SECONDS = 600.0


def frame_build(events: list[FlowEvent]) -> dict[str, Any]:
    """One frame from the events of one interval: counts for all, details for a sample."""
    counts: Counter[str] = Counter()
    for event in events:
        counts[f"{event.type}|{_resource(event)}"] += 1
    sampled = len(events) > MAX_FRAME_EVENTS
    if sampled:
        traces: list[str] = []
        for event in events:
            if event.trace and event.trace not in traces and len(traces) < SAMPLE_TRACES:
                traces.append(event.trace)
        keep = set(traces)
        # Depth is state: the newest sample per queue is enough.
        latest = {e.queue_arn: e.seq for e in events if isinstance(e, Depth)}
        detail = [
            e for e in events
            if (e.trace in keep)
            or (e.type in STATE_EVENTS and e.type != "depth")
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


def channel_layer() -> BaseChannelLayer:
    """The default channel layer, which settings always configure (in memory, or Redis)."""
    layer = get_channel_layer()
    if layer is None:
        raise ImproperlyConfigured("CHANNEL_LAYERS configures no default layer")
    return layer


class FlowBus:
    def __init__(self) -> None:
        self.layer = channel_layer()
        self.engine: FlowEngine | None = None
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self._pending: list[FlowEvent] = []
        self._unsaved: list[FlowEvent] = []
        self._wake = asyncio.Event()
        #: Commands from this process (`command_send`), put here from any thread.
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        #: The engine's event loop, once it runs: where `command_send` hands commands.
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = asyncio.Event()
        self.counters = Counters()
        #: Classroom participants who published (``participant.published``), by name.
        self.producers: dict[str, dict[str, Any]] = {}

    async def start(self) -> None:
        """Start the engine and the bus's loops; a start that fails stops all it began."""
        from .models import FlowEventRecord, WorkerSetting

        last = await database_sync_to_async(
            lambda: FlowEventRecord.objects.order_by("-seq").values_list("seq", flat=True).first()
        )()
        emitter = FlowEmitter(start_seq=(last or 0) + 1)
        emitter.subscribe(self._collect)
        engine = FlowEngine(connection(), emitter, watcher_options=settings.FLOWDASH_WATCHER)
        self.engine = engine
        self.push = pushhub.PushHub(self.layer)
        emitter.subscribe(self.push.collect)
        supervisor = engine.supervisor
        try:
            supervisor.loop("flowbus.frames", self._frames)
            supervisor.loop("flowbus.persist", self._persist)
            supervisor.loop("flowbus.commands", self._commands)
            supervisor.loop("flowbus.local_commands", self._local_commands)
            supervisor.loop("flowbus.push", self.push.run)
            specs = await database_sync_to_async(lambda: list(WorkerSetting.objects.all()))()
            await engine.start(within=START_WITHIN)
            for row in specs:
                engine.workers_set(row.queue_arn, worker_spec(row))
        except BaseException:
            await engine.stop()  # cancels every task started above, the bus's loops too
            try:
                # The error events viewers were shown: the next start numbers on from them.
                await self._save()
            except Exception:
                logger.exception("storing the failed start's flow events failed")
            raise
        global _local
        self.loop = asyncio.get_running_loop()
        _local = self
        self.started.set()
        logger.info("flow engine started at seq %s", emitter.last_seq + 1)

    async def stop(self) -> None:
        global _local
        self.loop = None  # commands from now on go to the channel layer
        if _local is self:
            _local = None
        if self.engine is not None:
            await self.engine.stop()  # its supervisor cancels the bus's loops as well
        await self._save()

    def command_soon(self, message: dict[str, Any]) -> bool:
        """Hand a command to the engine's loop, from any thread; False if it is not running."""
        loop = self.loop
        if loop is None:
            return False
        try:
            loop.call_soon_threadsafe(self._inbox.put_nowait, message)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def health(self) -> dict[str, Any]:
        assert self.engine is not None
        supervisor = self.engine.supervisor
        return {
            "state": "degraded" if supervisor.degraded else "running",
            "loops": supervisor.status(),
        }

    def _collect(self, event: FlowEvent) -> None:
        self.counters.add(event)
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

    async def _local_commands(self) -> None:
        while True:
            message = await self._inbox.get()
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
        elif kind == "push.published":
            engine.push_published_note(message_id=message["message_id"], message=message["message"])
        elif kind == "counters.reset":
            self.counters.reset()
            # Viewers resync on this and start again from the snapshot's zeroed counters.
            engine.emitter.emit(ResourceChanged, kind="flow", action="resync", arn="")
        elif kind == "participant.published":
            self._producer(message["name"], message["target_arn"])

    def snapshot(self) -> dict[str, Any]:
        """The engine's state plus the bus's: recent events and the counters up to
        ``last_seq`` (both are brought up to date synchronously, on every emit, so they
        match the engine's ``last_seq`` exactly)."""
        assert self.engine is not None
        snapshot = self.engine.snapshot()
        counters = self.counters
        for worker in snapshot["workers"]:
            worker["processed"] = counters.workers[f"processed|{worker['name']}"]
            worker["failed"] = counters.workers[f"failed|{worker['name']}"]
        return {
            **snapshot,
            "recent": list(self.recent),
            "counts": dict(counters.resources),
            "subscription_counts": counters.subscriptions_view(),
            "counts_since": counters.since,
            "producers": self.producers_recent(),
        }

    def _producer(self, name: str, target_arn: str) -> None:
        """A participant published: the diagram shows them as a producer of the target.
        Viewers resync only when a producer appears or changes target, not per message."""
        assert self.engine is not None
        producer = self.producers.get(name)
        fresh = producer is None or producer["target_arn"] != target_arn
        if producer is None or fresh:
            producer = {"name": name, "target_arn": target_arn, "published": 0}
            self.producers[name] = producer
        producer["published"] += 1
        producer["last_at"] = time.time()
        if fresh:
            self.engine.emitter.emit(
                ResourceChanged, kind="producers", action="changed", arn=target_arn
            )

    def producers_recent(self) -> list[dict[str, Any]]:
        """Producers that published within ``PRODUCER_SECONDS``; older ones are forgotten."""
        cutoff = time.time() - PRODUCER_SECONDS
        for name in [n for n, p in self.producers.items() if p["last_at"] < cutoff]:
            del self.producers[name]
        return [dict(p) for p in self.producers.values()]


class Counters:
    """What happened since the engine started or since the last "reset counters":
    per ``"<type>|<resource arn>"`` (the keys of a frame's ``counts``), per subscription
    (delivered/filtered) and per worker (processed/failed). One Counter increment or
    three per event: the bus sees every event, and this must stay O(1) at 1,000/s."""

    def __init__(self) -> None:
        self.resources: Counter[str] = Counter()
        self.subscriptions: Counter[str] = Counter()  # "delivered|<subscription arn>"
        self.workers: Counter[str] = Counter()  # "processed|<worker name>"
        self.since = time.time()

    def add(self, event: FlowEvent) -> None:
        kind = event.type
        self.resources[f"{kind}|{_resource(event)}"] += 1
        if kind in ("delivered", "filtered"):
            self.subscriptions[f"{kind}|{getattr(event, 'subscription_arn', '')}"] += 1
        elif kind in ("processed", "failed"):
            worker = getattr(event, "worker", None)
            if worker:
                self.workers[f"{kind}|{worker}"] += 1

    def reset(self) -> None:
        self.resources.clear()
        self.subscriptions.clear()
        self.workers.clear()
        self.since = time.time()

    def subscriptions_view(self) -> dict[str, dict[str, int]]:
        """``{subscription arn: {delivered, filtered}}``."""
        out: dict[str, dict[str, int]] = {}
        for key, n in self.subscriptions.items():
            kind, _, arn = key.partition("|")
            out.setdefault(arn, {"delivered": 0, "filtered": 0})[kind] = n
        return out


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
                type=e.type,
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
#: The bus running in this process, started here or by ``manage.py flowwatch``.
_local: FlowBus | None = None
#: The last failed start: (time.monotonic(), what it raised).
_failed: tuple[float, BaseException] | None = None


class EngineUnavailable(Exception):
    """The flow engine could not start in this process (the backend is unreachable)."""


async def ensure_running() -> FlowBus | None:
    """Start the engine in this process, once, unless ``flowwatch`` runs it elsewhere.

    A failed start leaves nothing running and raises `EngineUnavailable`; the next
    call after ``START_RETRY_SECONDS`` tries again from scratch (earlier ones are
    refused at once, so a crowd of reconnecting sockets does not queue up starts).
    """
    global _bus, _lock, _failed
    if settings.FLOWDASH_ENGINE != "inprocess":
        return None
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if _bus is None:
            if _failed is not None and time.monotonic() - _failed[0] < START_RETRY_SECONDS:
                raise EngineUnavailable(_reason(_failed[1])) from _failed[1]
            bus = FlowBus()
            try:
                await bus.start()
            except Exception as exc:
                _failed = (time.monotonic(), exc)
                logger.error("the flow engine did not start", exc_info=exc)
                raise EngineUnavailable(_reason(exc)) from exc
            _failed = None
            _bus = bus
    return _bus


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the AWS backend did not answer in time"
    return str(exc) or type(exc).__name__


async def shutdown() -> None:
    global _bus, _lock, _failed
    if _bus is not None:
        await _bus.stop()
    _bus = None
    _lock = None
    _failed = None


def engine_health() -> dict[str, Any]:
    """What ``/healthz`` shows of the engine: where it runs, each loop's state and restarts."""
    if settings.FLOWDASH_ENGINE != "inprocess":
        return {"state": "external"}  # flowwatch runs it; its loops are not visible here
    bus = _bus
    if bus is not None and bus.engine is not None:
        return bus.health()
    if _failed is not None:
        return {"state": "failed", "error": _reason(_failed[1]), "loops": {}}
    return {"state": "not started", "loops": {}}


def error_report(*, source: str, message: str, code: str, resource: str | None = None) -> None:
    """Show viewers an ``error`` event from outside the engine (e.g. the frame relay),
    when this process runs the engine; otherwise the log and ``/healthz`` must do."""
    bus = _local
    loop = bus.loop if bus is not None else None
    if bus is None or bus.engine is None or loop is None:
        return
    emit = partial(
        bus.engine.emitter.emit, Error, source=source, message=message, code=code,
        resource=resource,
    )  # fmt: skip
    with contextlib.suppress(RuntimeError):  # the loop is closed
        loop.call_soon_threadsafe(emit)


def local_snapshot() -> dict[str, Any] | None:
    """The snapshot, when the engine runs on the caller's own loop; else None (ask it
    through the channel layer). At 200 viewers resyncing at once the command channel
    (capacity 100) overflowed and closed sockets; this path has no queue at all."""
    bus = _local
    if bus is None or bus.engine is None or bus.loop is None:
        return None
    try:
        if asyncio.get_running_loop() is not bus.loop:
            return None
    except RuntimeError:
        return None
    return bus.snapshot()


def events_unsaved(*, type: str, resource: str) -> list[dict[str, Any]]:
    """Events of this process's engine not yet in the event log (it is written every
    ``PERSIST_INTERVAL``), so a page that reads the log right after an action still
    sees it. Safe from any thread: the list is swapped, never changed in place."""
    bus = _local
    if bus is None:
        return []
    return [e.to_dict() for e in list(bus._unsaved) if e.type == type and _resource(e) == resource]


def command_send(kind: str, **payload: Any) -> None:
    """Ask the engine, wherever it runs, to do something. Safe from any thread.

    In the process that runs the engine the command goes straight onto the engine's
    loop (``call_soon_threadsafe``); the channel layer carries it only to an engine
    in another process, or to one not started yet (it reads the channel on start).
    """
    message = {"type": kind, **payload}
    bus = _local
    if bus is not None and bus.command_soon(message):
        return
    try:
        async_to_sync(channel_layer().send)(COMMANDS, message)
    except Exception as exc:  # the engine being away must not break the page that changed AWS
        logger.warning("flow command %s not sent: %s", kind, exc)
