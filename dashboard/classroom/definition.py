"""A scenario's definition: JSON in, checked dataclasses out. No Django, no AWS calls.

A definition names its resources by short names ("orders", "billing"); loading
puts them under the scenario's own prefix ``sc-<slug>-`` so that resetting can
remove exactly what the scenario made. Everything that refers to a resource
(subscriptions, workers, publishing steps, what participants may use,
instructor actions) must name one the definition declares: a reference to a
missing queue is refused here, with the place it occurs, before anything is
sent to AWS. Values are checked with the same rules as the rest of Flowdash
(names, filter policies, worker specs, bursts, message attributes).

Shape (every list may be empty or absent)::

    {"topics": [{"name", "fifo", "content_based_deduplication"}],
     "queues": [{"name", "fifo", "content_based_deduplication", "visibility_timeout",
                 "receive_wait_seconds", "dead_letter_queue", "max_receive_count"}],
     "subscriptions": [{"topic", "protocol", "queue" (sqs) | "endpoint",
                        "filter_policy", "filter_policy_scope", "raw_message_delivery"}],
     "workers": [{"queue", "count", "min_ms", "max_ms", "failure_rate",
                  "poison_marker", "batch_size", "wait_seconds"}],
     "publish": [{"kind": "burst", "topic" | "queue", "count", "rate", "body_template",
                  "attributes", "message_group_id"},
                 {"kind": "messages", "to": [{"topic"} | {"queue"}],
                  "messages": [{"body", "subject", "attributes", "group_id",
                                "deduplication_id"}]}],
     "allow": {"topics": [...], "queues": [...], "work": [...]},
     "actions": [{"label", "kind": "workers", "queue", "spec": {...}},
                 {"label", "kind": "redrive", "dead_letter_queue", "queue"}]}

Endpoints may contain ``{base_url}``: Flowdash's own address, for an HTTP
subscription that delivers to Flowdash itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Any

from messaging.burst import Burst
from messaging.errors import FlowdashError
from messaging.filter_policy import filter_policy_validate
from messaging.subscriptions import PROTOCOLS, SCOPES
from messaging.validation import (
    SNS_MAX_MESSAGE_BYTES,
    MessageAttribute,
    body_validate,
    message_attributes_validate,
    resource_name_validate,
)
from messaging.workers import WorkerSpec

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX = 24
MESSAGES_PER_STEP_MAX = 100
BASE_URL_MARK = "{base_url}"

UNKNOWN_KEY = "{where}: unknown key {key!r}; expected one of {expected}."
NOT_AN_OBJECT = "{where} must be a JSON object."
NOT_A_LIST = "{where} must be a list."
MISSING_KEY = "{where} needs {key!r}."
BAD_SLUG = (
    "A scenario's slug is 1-24 lowercase letters, digits and single hyphens "
    "(it becomes part of every resource name)."
)
DUPLICATE_NAME = "{where}: a {kind} named {name!r} is declared twice."
MISSING_TOPIC = "{where} names topic {name!r}, which this scenario does not define."
MISSING_QUEUE = "{where} names queue {name!r}, which this scenario does not define."
FIFO_MISMATCH = "{where}: {detail}"
DLQ_CYCLE = "Queue {name!r}: its dead-letter queues lead back to itself."
TARGET_COUNT = "{where} needs exactly one of 'topic' or 'queue'."
BAD_VALUE = "{where}: {detail}"


class DefinitionError(ValueError):
    """The definition breaks a rule; the message says where and which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
    publish: tuple[BurstDef | MessagesDef, ...] = ()
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


def scenario_prefix(slug: str) -> str:
    """Every resource of a scenario is named ``sc-<slug>-<name>`` (after Flowdash's prefix)."""
    return f"sc-{slug}-"


def slug_validate(slug: str) -> str:
    if not (0 < len(slug) <= SLUG_MAX and SLUG_RE.match(slug)):
        raise DefinitionError(BAD_SLUG)
    return slug


def definition_parse(data: Any, *, slug: str) -> ScenarioDefinition:
    """Check a definition and return it typed; raises `DefinitionError` at the first fault."""
    slug_validate(slug)
    root = _object(data, "The definition")
    _keys(
        root,
        "The definition",
        {"topics", "queues", "subscriptions", "workers", "publish", "allow", "actions"},
    )
    topics = tuple(_topic(t, i, slug) for i, t in _items(root, "topics", "The definition"))
    queues = tuple(_queue(q, i, slug) for i, q in _items(root, "queues", "The definition"))
    _unique(topics, "topic")
    _unique(queues, "queue")
    partial = ScenarioDefinition(slug=slug, topics=topics, queues=queues)
    for queue in queues:
        _dead_letter_check(partial, queue)
    subscriptions = tuple(
        _subscription(s, i, partial) for i, s in _items(root, "subscriptions", "The definition")
    )
    workers = tuple(_worker(w, i, partial) for i, w in _items(root, "workers", "The definition"))
    seen_workers = [w.queue for w in workers]
    for name in seen_workers:
        if seen_workers.count(name) > 1:
            raise DefinitionError(
                DUPLICATE_NAME.format(where="Workers", kind="worker spec for queue", name=name)
            )
    partial = replace(partial, workers=workers)
    publish = tuple(_step(p, i, partial) for i, p in _items(root, "publish", "The definition"))
    allow = _allow(root.get("allow", {}), partial)
    actions = tuple(_action(a, i, partial) for i, a in _items(root, "actions", "The definition"))
    return ScenarioDefinition(
        slug=slug,
        topics=topics,
        queues=queues,
        subscriptions=subscriptions,
        workers=workers,
        publish=publish,
        allow=allow,
        actions=actions,
    )


# Pieces -----------------------------------------------------------------------------


def _topic(data: Any, i: int, slug: str) -> TopicDef:
    where = f"Topic {i}"
    item = _object(data, where)
    _keys(item, where, {"name", "fifo", "content_based_deduplication"})
    name = _str(item, "name", where)
    fifo = _bool(item, "fifo", where)
    _name_check(slug, name, kind="topic", fifo=fifo, where=f"Topic {name!r}")
    return TopicDef(
        name=name,
        fifo=fifo,
        content_based_deduplication=_bool(item, "content_based_deduplication", where),
    )


def _queue(data: Any, i: int, slug: str) -> QueueDef:
    where = f"Queue {i}"
    item = _object(data, where)
    _keys(item, where, {f.name for f in fields(QueueDef)})
    name = _str(item, "name", where)
    where = f"Queue {name!r}"
    fifo = _bool(item, "fifo", where)
    _name_check(slug, name, kind="queue", fifo=fifo, where=where)
    return QueueDef(
        name=name,
        fifo=fifo,
        content_based_deduplication=_bool(item, "content_based_deduplication", where),
        visibility_timeout=_int_or_none(item, "visibility_timeout", where),
        receive_wait_seconds=_int_or_none(item, "receive_wait_seconds", where),
        dead_letter_queue=_str_or_none(item, "dead_letter_queue", where),
        max_receive_count=_int_or_none(item, "max_receive_count", where),
    )


def _dead_letter_check(definition: ScenarioDefinition, queue: QueueDef) -> None:
    where = f"Queue {queue.name!r}"
    names = {q.name for q in definition.queues}
    seen = {queue.name}
    current = queue
    while current.dead_letter_queue:
        if current.dead_letter_queue not in names:
            raise DefinitionError(
                MISSING_QUEUE.format(
                    where=f"{where} (dead_letter_queue)", name=current.dead_letter_queue
                )
            )
        if current.dead_letter_queue in seen:
            raise DefinitionError(DLQ_CYCLE.format(name=queue.name))
        seen.add(current.dead_letter_queue)
        target = definition.queue(current.dead_letter_queue)
        if target.fifo != current.fifo:
            raise DefinitionError(
                FIFO_MISMATCH.format(
                    where=f"Queue {current.name!r}",
                    detail="the dead-letter queue of a FIFO queue must be FIFO, "
                    "and of a standard queue standard.",
                )
            )
        current = target


def _subscription(data: Any, i: int, definition: ScenarioDefinition) -> SubscriptionDef:
    where = f"Subscription {i}"
    item = _object(data, where)
    _keys(item, where, {f.name for f in fields(SubscriptionDef)})
    topic = _topic_ref(_str(item, "topic", where), where, definition)
    protocol = _str(item, "protocol", where).lower()
    if protocol not in PROTOCOLS:
        raise DefinitionError(
            BAD_VALUE.format(where=where, detail=f"protocol must be one of {', '.join(PROTOCOLS)}.")
        )
    queue = endpoint = None
    if protocol == "sqs":
        queue = _queue_ref(_str(item, "queue", where), where, definition)
        if definition.queue(queue).fifo != topic.fifo:
            detail = (
                "a FIFO topic can deliver only to FIFO queues."
                if topic.fifo
                else "a standard topic cannot deliver to a FIFO queue."
            )
            raise DefinitionError(FIFO_MISMATCH.format(where=where, detail=detail))
    else:
        endpoint = _str(item, "endpoint", where)
        if topic.fifo:
            raise DefinitionError(
                FIFO_MISMATCH.format(where=where, detail="a FIFO topic delivers only to SQS.")
            )
    scope = item.get("filter_policy_scope", "MessageAttributes")
    if scope not in SCOPES:
        raise DefinitionError(
            BAD_VALUE.format(
                where=where, detail="filter_policy_scope must be MessageAttributes or MessageBody."
            )
        )
    policy = item.get("filter_policy")
    if policy is not None:
        try:
            filter_policy_validate(policy, scope=scope)
        except FlowdashError as exc:
            raise DefinitionError(
                BAD_VALUE.format(where=f"{where} filter_policy", detail=exc.message)
            ) from None
        if not isinstance(policy, dict):
            raise DefinitionError(NOT_AN_OBJECT.format(where=f"{where} filter_policy"))
    return SubscriptionDef(
        topic=topic.name,
        protocol=protocol,
        queue=queue,
        endpoint=endpoint,
        filter_policy=policy,
        filter_policy_scope=scope,
        raw_message_delivery=_bool(item, "raw_message_delivery", where),
    )


def _worker(data: Any, i: int, definition: ScenarioDefinition) -> WorkerDef:
    where = f"Worker spec {i}"
    item = _object(data, where)
    _keys(item, where, {"queue", *(f.name for f in fields(WorkerSpec))})
    queue = _queue_ref(_str(item, "queue", where), where, definition)
    spec_fields = {k: v for k, v in item.items() if k != "queue"}
    return WorkerDef(queue=queue, spec=_spec(spec_fields, f"Workers on {queue!r}"))


def _spec(values: dict[str, Any], where: str, base: WorkerSpec | None = None) -> WorkerSpec:
    try:
        spec = WorkerSpec(**{**_spec_dict(base), **values}) if base else WorkerSpec(**values)
        return spec.validate()
    except FlowdashError as exc:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=exc.message)) from None
    except TypeError as exc:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=str(exc))) from None


def _spec_dict(spec: WorkerSpec | None) -> dict[str, Any]:
    return {f.name: getattr(spec, f.name) for f in fields(WorkerSpec)} if spec else {}


def _step(data: Any, i: int, definition: ScenarioDefinition) -> BurstDef | MessagesDef:
    where = f"Publishing step {i}"
    item = _object(data, where)
    kind = item.get("kind")
    if kind == "burst":
        return _burst(item, where, definition)
    if kind == "messages":
        return _messages(item, where, definition)
    raise DefinitionError(
        BAD_VALUE.format(where=where, detail="'kind' must be 'burst' or 'messages'.")
    )


def _burst(item: dict[str, Any], where: str, definition: ScenarioDefinition) -> BurstDef:
    _keys(
        item,
        where,
        {
            "kind",
            "topic",
            "queue",
            "count",
            "rate",
            "body_template",
            "attributes",
            "message_group_id",
        },
    )
    target = _target(item, where, definition)
    attributes = _attributes(item.get("attributes", []), where)
    burst = BurstDef(
        target=target,
        count=_int(item, "count", where),
        rate=_number(item, "rate", where),
        body_template=item.get("body_template", "message {{n}}"),
        attributes=attributes,
        message_group_id=_str_or_none(item, "message_group_id", where),
    )
    try:
        Burst(
            count=burst.count,
            rate=burst.rate,
            body_template=str(burst.body_template),
            attributes=attributes,
            message_group_id=burst.message_group_id,
            **_fake_target(target),
        ).validate()
    except FlowdashError as exc:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=exc.message)) from None
    return burst


def _messages(item: dict[str, Any], where: str, definition: ScenarioDefinition) -> MessagesDef:
    _keys(item, where, {"kind", "to", "messages"})
    targets = tuple(
        _target(_object(t, f"{where} target {n}"), f"{where} target {n}", definition)
        for n, t in enumerate(_list(item.get("to"), f"{where} 'to'"))
    )
    if not targets:
        raise DefinitionError(MISSING_KEY.format(where=where, key="to"))
    raw = _list(item.get("messages"), f"{where} 'messages'")
    if not 1 <= len(raw) <= MESSAGES_PER_STEP_MAX:
        raise DefinitionError(
            BAD_VALUE.format(where=where, detail=f"send 1 to {MESSAGES_PER_STEP_MAX} messages.")
        )
    fifo = any(definition.is_fifo(t) for t in targets)
    messages = []
    for n, entry in enumerate(raw):
        at = f"{where} message {n}"
        message = _object(entry, at)
        _keys(message, at, {f.name for f in fields(MessageDef)})
        attributes = _attributes(message.get("attributes", []), at)
        body = _str(message, "body", at)
        try:
            body_validate(body, limit=SNS_MAX_MESSAGE_BYTES, attributes=list(attributes))
        except FlowdashError as exc:
            raise DefinitionError(BAD_VALUE.format(where=at, detail=exc.message)) from None
        group_id = _str_or_none(message, "group_id", at)
        if fifo and not group_id:
            raise DefinitionError(
                BAD_VALUE.format(where=at, detail="a FIFO target needs a 'group_id'.")
            )
        messages.append(
            MessageDef(
                body=body,
                subject=_str_or_none(message, "subject", at),
                attributes=attributes,
                group_id=group_id,
                deduplication_id=_str_or_none(message, "deduplication_id", at),
            )
        )
    return MessagesDef(to=targets, messages=tuple(messages))


def _allow(data: Any, definition: ScenarioDefinition) -> Allow:
    where = "allow"
    item = _object(data, where)
    _keys(item, where, {"topics", "queues", "work"})
    topics = tuple(
        _topic_ref(_name(n, f"allow.topics[{i}]"), f"allow.topics[{i}]", definition).name
        for i, n in enumerate(_list(item.get("topics", []), "allow.topics"))
    )
    queues = tuple(
        _queue_ref(_name(n, f"allow.queues[{i}]"), f"allow.queues[{i}]", definition)
        for i, n in enumerate(_list(item.get("queues", []), "allow.queues"))
    )
    work = tuple(
        _queue_ref(_name(n, f"allow.work[{i}]"), f"allow.work[{i}]", definition)
        for i, n in enumerate(_list(item.get("work", []), "allow.work"))
    )
    return Allow(topics=topics, queues=queues, work=work)


def _action(data: Any, i: int, definition: ScenarioDefinition) -> ActionDef:
    where = f"Action {i}"
    item = _object(data, where)
    _keys(item, where, {"label", "kind", "queue", "dead_letter_queue", "spec"})
    label = _str(item, "label", where)
    kind = item.get("kind")
    queue = _queue_ref(_str(item, "queue", where), where, definition)
    if kind == "workers":
        spec = _object(item.get("spec", {}), f"{where} spec")
        worker = definition.worker(queue)
        _spec(spec, f"{where} spec", base=worker.spec if worker else WorkerSpec())
        return ActionDef(label=label, kind=kind, queue=queue, spec=dict(spec))
    if kind == "redrive":
        dead_letter = _queue_ref(_str(item, "dead_letter_queue", where), where, definition)
        if definition.queue(queue).dead_letter_queue != dead_letter:
            raise DefinitionError(
                BAD_VALUE.format(
                    where=where,
                    detail=f"{dead_letter!r} is not the dead-letter queue of {queue!r}.",
                )
            )
        return ActionDef(label=label, kind=kind, queue=queue, dead_letter_queue=dead_letter)
    raise DefinitionError(
        BAD_VALUE.format(where=where, detail="'kind' must be 'workers' or 'redrive'.")
    )


# Helpers ----------------------------------------------------------------------------


def _target(item: dict[str, Any], where: str, definition: ScenarioDefinition) -> Target:
    if ("topic" in item) == ("queue" in item):
        raise DefinitionError(TARGET_COUNT.format(where=where))
    if "topic" in item:
        return Target(
            kind="topic", name=_topic_ref(_str(item, "topic", where), where, definition).name
        )
    return Target(kind="queue", name=_queue_ref(_str(item, "queue", where), where, definition))


def _fake_target(target: Target) -> dict[str, str]:
    """A stand-in address: Burst's checks look only at the kind and the .fifo suffix."""
    if target.kind == "topic":
        return {"topic_arn": f"arn:aws:sns:us-east-1:000000000000:{target.name}"}
    return {"queue_url": f"http://localhost/000000000000/{target.name}"}


def _topic_ref(name: str, where: str, definition: ScenarioDefinition) -> TopicDef:
    found = next((t for t in definition.topics if t.name == name), None)
    if found is None:
        raise DefinitionError(MISSING_TOPIC.format(where=where, name=name))
    return found


def _queue_ref(name: str, where: str, definition: ScenarioDefinition) -> str:
    if not any(q.name == name for q in definition.queues):
        raise DefinitionError(MISSING_QUEUE.format(where=where, name=name))
    return name


def _name_check(slug: str, name: str, *, kind: str, fifo: bool, where: str) -> None:
    try:
        resource_name_validate(scenario_prefix(slug) + name, kind=kind, fifo=fifo)
    except FlowdashError as exc:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=exc.message)) from None


def _attributes(data: Any, where: str) -> tuple[MessageAttribute, ...]:
    attributes = []
    for n, entry in enumerate(_list(data, f"{where} attributes")):
        at = f"{where} attribute {n}"
        item = _object(entry, at)
        _keys(item, at, {"name", "type", "value"})
        attributes.append(
            MessageAttribute(
                name=_str(item, "name", at),
                type=str(item.get("type", "String")),
                value=str(item.get("value", "")),
            )
        )
    try:
        return tuple(message_attributes_validate(attributes))
    except FlowdashError as exc:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=exc.message)) from None


def _unique(items: tuple[TopicDef, ...] | tuple[QueueDef, ...], kind: str) -> None:
    names = [i.name for i in items]
    for name in names:
        if names.count(name) > 1:
            raise DefinitionError(
                DUPLICATE_NAME.format(where="The definition", kind=kind, name=name)
            )


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DefinitionError(NOT_AN_OBJECT.format(where=where))
    return data


def _list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise DefinitionError(NOT_A_LIST.format(where=where))
    return data


def _items(root: dict[str, Any], key: str, where: str) -> list[tuple[int, Any]]:
    return list(enumerate(_list(root.get(key, []), f"{where}'s {key!r}")))


def _keys(item: dict[str, Any], where: str, allowed: set[str]) -> None:
    for key in item:
        if key not in allowed:
            expected = ", ".join(sorted(allowed))
            raise DefinitionError(UNKNOWN_KEY.format(where=where, key=key, expected=expected))


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise DefinitionError(BAD_VALUE.format(where=where, detail="expected a name."))
    return value


def _str(item: dict[str, Any], key: str, where: str) -> str:
    if key not in item:
        raise DefinitionError(MISSING_KEY.format(where=where, key=key))
    value = item[key]
    if not isinstance(value, str) or not value:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=f"{key!r} must be text."))
    return value


def _str_or_none(item: dict[str, Any], key: str, where: str) -> str | None:
    return _str(item, key, where) if item.get(key) is not None else None


def _bool(item: dict[str, Any], key: str, where: str) -> bool:
    value = item.get(key, False)
    if not isinstance(value, bool):
        raise DefinitionError(
            BAD_VALUE.format(where=where, detail=f"{key!r} must be true or false.")
        )
    return value


def _int(item: dict[str, Any], key: str, where: str) -> int:
    if key not in item:
        raise DefinitionError(MISSING_KEY.format(where=where, key=key))
    value = item[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise DefinitionError(
            BAD_VALUE.format(where=where, detail=f"{key!r} must be a whole number.")
        )
    return value


def _int_or_none(item: dict[str, Any], key: str, where: str) -> int | None:
    return _int(item, key, where) if item.get(key) is not None else None


def _number(item: dict[str, Any], key: str, where: str) -> float:
    value = item.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise DefinitionError(BAD_VALUE.format(where=where, detail=f"{key!r} must be a number."))
    return float(value)
