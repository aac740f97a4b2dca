"""Flow events: what the watcher and the workers saw happen, as typed records.

Each event type is a frozen, slotted, keyword-only dataclass, so an event with
a misspelt or missing field fails where it is built, not in a browser. Every
event carries a sequence number and a timestamp, assigned by one `FlowEmitter`
per engine: the number lets a client tell a gap (missed frames) from a quiet
moment, and orders events that crossed different channels.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

EventType = Literal[
    "published",
    "delivered",
    "filtered",
    "received",
    "processed",
    "failed",
    "dead_lettered",
    "depth",
    "resource_changed",
    "error",
    "visibility_lapsed",
    "visibility_changed",
    "deduplicated",
    "expired",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowEvent:
    seq: int
    ts: float
    #: What happened. Each subclass narrows it to its own literal and sets it as the
    #: default (outside ``__init__``), so ``event.type`` is typed on any event.
    type: EventType = field(init=False)

    def to_dict(self) -> dict[str, Any]:
        """A shallow dict: events are immutable, so no field needs copying.

        ``dataclasses.asdict`` deep-copies every field; at a few thousand events a
        second that copying was a measurable share of the engine's time.
        """
        return {name: getattr(self, name) for name in _field_names(type(self))}

    @property
    def trace(self) -> str | None:
        return getattr(self, "trace_id", None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Published(FlowEvent):
    """A message entered the system: published to a topic or sent straight to a queue."""

    type: Literal["published"] = field(default="published", init=False)
    trace_id: str
    topic_arn: str | None = None
    queue_arn: str | None = None
    subject: str | None = None
    body: str = ""
    #: As SNS envelopes spell them: ``{name: {"Type": ..., "Value": ...}}``.
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    group_id: str | None = None
    #: "flowdash" when Flowdash published it, "external" for anyone else.
    source: str = "external"
    #: Who published, where the broker can tell (its user agent: ``aws-cli/1.42.3``).
    client: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivered(FlowEvent):
    """A copy of the message reached a subscription's endpoint (for SQS: a queue)."""

    type: Literal["delivered"] = field(default="delivered", init=False)
    trace_id: str
    topic_arn: str
    subscription_arn: str
    protocol: str
    endpoint: str
    #: "policy": what the filter policy says AWS does; "observed": a worker received it.
    basis: str = "policy"
    note: str | None = None
    #: The SQS MessageId of the copy in the queue, where known.
    message_id: str | None = None
    #: What the endpoint received, where it can differ from the publication and is known:
    #: a device's platform payload (``MessageStructure=json``): from the broker on the
    #: embedded backend, from Flowdash's own per-platform publications when watched from
    #: outside (a tap sees only their ``default`` text).
    body: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Filtered(FlowEvent):
    """A subscription's filter policy kept the message from its endpoint."""

    type: Literal["filtered"] = field(default="filtered", init=False)
    trace_id: str
    topic_arn: str
    subscription_arn: str
    protocol: str
    endpoint: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Received(FlowEvent):
    type: Literal["received"] = field(default="received", init=False)
    trace_id: str
    queue_arn: str
    worker: str
    message_id: str
    receive_count: int
    group_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Processed(FlowEvent):
    type: Literal["processed"] = field(default="processed", init=False)
    trace_id: str
    queue_arn: str
    worker: str
    message_id: str
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed(FlowEvent):
    """Processing failed; the message stays in the queue and reappears after its
    visibility timeout, unless this was its last receive before the DLQ."""

    type: Literal["failed"] = field(default="failed", init=False)
    trace_id: str
    queue_arn: str
    worker: str
    message_id: str
    receive_count: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLettered(FlowEvent):
    type: Literal["dead_lettered"] = field(default="dead_lettered", init=False)
    trace_id: str
    queue_arn: str
    dead_letter_arn: str
    message_id: str
    receive_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Depth(FlowEvent):
    type: Literal["depth"] = field(default="depth", init=False)
    queue_arn: str
    visible: int
    in_flight: int
    delayed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceChanged(FlowEvent):
    type: Literal["resource_changed"] = field(default="resource_changed", init=False)
    kind: str  # topic, queue, subscription, workers
    action: str  # created, deleted, changed
    arn: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Error(FlowEvent):
    type: Literal["error"] = field(default="error", init=False)
    source: str
    message: str
    code: str | None = None
    resource: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VisibilityLapsed(FlowEvent):
    """A received message was neither deleted nor changed in time: it is visible
    again, at this moment, and the next receive may take it (or move it to the DLQ)."""

    type: Literal["visibility_lapsed"] = field(default="visibility_lapsed", init=False)
    trace_id: str
    queue_arn: str
    message_id: str
    receive_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VisibilityChanged(FlowEvent):
    """A consumer changed a received message's visibility timeout (0: let it go now)."""

    type: Literal["visibility_changed"] = field(default="visibility_changed", init=False)
    trace_id: str
    queue_arn: str
    message_id: str
    worker: str
    timeout_seconds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Deduplicated(FlowEvent):
    """A FIFO queue accepted a send and dropped it: the same deduplication id was sent
    within five minutes. The trace is the message it duplicates."""

    type: Literal["deduplicated"] = field(default="deduplicated", init=False)
    trace_id: str
    queue_arn: str
    message_id: str
    deduplication_id: str
    topic_arn: str | None = None
    client: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Expired(FlowEvent):
    """A message stayed in its queue longer than the queue's retention period: SQS
    deleted it, unconsumed."""

    type: Literal["expired"] = field(default="expired", init=False)
    trace_id: str
    queue_arn: str
    message_id: str
    receive_count: int


def _type_of(cls: type[FlowEvent]) -> str:
    """The literal an event class gives ``type`` as its default."""
    default = cls.__dataclass_fields__["type"].default
    if not isinstance(default, str):
        raise TypeError(f"{cls.__name__} sets no default for its `type` field")
    return default


EVENT_TYPES: dict[str, type[FlowEvent]] = {
    _type_of(cls): cls
    for cls in (
        Published, Delivered, Filtered, Received, Processed, Failed, DeadLettered, Depth,
        ResourceChanged, Error, VisibilityLapsed, VisibilityChanged, Deduplicated, Expired,
    )
}  # fmt: skip

E = TypeVar("E", bound=FlowEvent)
Listener = Callable[[FlowEvent], None]


_FIELD_NAMES: dict[type[FlowEvent], tuple[str, ...]] = {}


def _field_names(cls: type[FlowEvent]) -> tuple[str, ...]:
    """An event class's field names, worked out once per class.

    A plain dict rather than ``functools.cache``: mypy takes ``type[FlowEvent]``
    for unhashable (the dataclass's own ``__hash__`` shadows the class's).
    """
    try:
        return _FIELD_NAMES[cls]
    except KeyError:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
        return names


class FlowEmitter:
    """Numbers events and hands them to listeners: the engine's one way out."""

    def __init__(self, *, start_seq: int = 1, clock: Callable[[], float] = time.time) -> None:
        self._counter = itertools.count(start_seq)
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._clock = clock
        self.last_seq = start_seq - 1

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, cls: type[E], **values: Any) -> E:
        with self._lock:
            seq = next(self._counter)
            event = cls(seq=seq, ts=self._clock(), **values)
            self.last_seq = seq
            # Inside the lock, so listeners see events in sequence order; keep them quick.
            for listener in self._listeners:
                listener(event)
        return event
