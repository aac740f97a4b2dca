"""A scenario definition, typed: what `definition.definition_parse` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from messaging.validation import MessageAttribute
from messaging.workers import WorkerSpec

from .jsonread import DefinitionError, text

MISSING_TOPIC = "{where} names topic {name!r}, which this scenario does not define."
MISSING_QUEUE = "{where} names queue {name!r}, which this scenario does not define."
TARGET_COUNT = "{where} needs exactly one of 'topic' or 'queue'."


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicDef:
    name: str
    fifo: bool = False
    content_based_deduplication: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueDef:
    name: str
    fifo: bool = False
    content_based_deduplication: bool = False
    visibility_timeout: int | None = None
    receive_wait_seconds: int | None = None
    dead_letter_queue: str | None = None
    max_receive_count: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionDef:
    topic: str
    protocol: str
    queue: str | None = None
    endpoint: str | None = None
    filter_policy: dict[str, Any] | None = None
    filter_policy_scope: str = "MessageAttributes"
    raw_message_delivery: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerDef:
    queue: str
    spec: WorkerSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    kind: str  # "topic" or "queue"
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BurstDef:
    target: Target
    count: int
    rate: float
    body_template: str = "message {{n}}"
    attributes: tuple[MessageAttribute, ...] = ()
    message_group_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDef:
    body: str
    subject: str | None = None
    attributes: tuple[MessageAttribute, ...] = ()
    group_id: str | None = None
    deduplication_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagesDef:
    to: tuple[Target, ...]
    messages: tuple[MessageDef, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkersStepDef:
    """Start (or change) a queue's simulated workers at this point of the pattern."""

    queue: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Allow:
    topics: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    work: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionDef:
    label: str
    kind: str  # "workers" or "redrive"
    queue: str
    dead_letter_queue: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioDefinition:
    slug: str
    topics: tuple[TopicDef, ...] = ()
    queues: tuple[QueueDef, ...] = ()
    subscriptions: tuple[SubscriptionDef, ...] = ()
    workers: tuple[WorkerDef, ...] = ()
    publish: tuple[BurstDef | MessagesDef | WorkersStepDef, ...] = ()
    allow: Allow = field(default_factory=Allow)
    actions: tuple[ActionDef, ...] = ()

    @property
    def prefix(self) -> str:
        return scenario_prefix(self.slug)

    def topic(self, name: str) -> TopicDef:
        return next(t for t in self.topics if t.name == name)

    def queue(self, name: str) -> QueueDef:
        return next(q for q in self.queues if q.name == name)

    def worker(self, queue: str) -> WorkerDef | None:
        return next((w for w in self.workers if w.queue == queue), None)

    def is_fifo(self, target: Target) -> bool:
        return (self.topic if target.kind == "topic" else self.queue)(target.name).fifo

    def topic_ref(self, name: str, where: str) -> TopicDef:
        """The declared topic ``name``; a reference to an undeclared one says where it is."""
        found = next((t for t in self.topics if t.name == name), None)
        if found is None:
            raise DefinitionError(MISSING_TOPIC.format(where=where, name=name))
        return found

    def queue_ref(self, name: str, where: str) -> str:
        if not any(q.name == name for q in self.queues):
            raise DefinitionError(MISSING_QUEUE.format(where=where, name=name))
        return name

    def target_ref(self, item: dict[str, Any], where: str) -> Target:
        """``{"topic": name}`` or ``{"queue": name}``, checked against the declarations."""
        if ("topic" in item) == ("queue" in item):
            raise DefinitionError(TARGET_COUNT.format(where=where))
        if "topic" in item:
            return Target(kind="topic", name=self.topic_ref(text(item, "topic", where), where).name)
        return Target(kind="queue", name=self.queue_ref(text(item, "queue", where), where))


def scenario_prefix(slug: str) -> str:
    """Every resource of a scenario is named ``sc-<slug>-<name>`` (after Flowdash's prefix)."""
    return f"sc-{slug}-"
