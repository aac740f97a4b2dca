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
                                "deduplication_id"}]},
                 {"kind": "workers", "queue", "count"}],
     "allow": {"topics": [...], "queues": [...], "work": [...]},
     "actions": [{"label", "kind": "workers", "queue", "spec": {...}},
                 {"label", "kind": "redrive", "dead_letter_queue", "queue"}]}

Endpoints may contain ``{base_url}``: Flowdash's own address
(``FLOWDASH_PUBLIC_URL``), for an HTTP subscription to Flowdash's receiver.
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from typing import Any

from messaging.errors import FlowdashError
from messaging.filter_policy import filter_policy_validate
from messaging.subscriptions import PROTOCOLS, SCOPES
from messaging.validation import (
    resource_name_validate,
)
from messaging.workers import WorkerSpec

from .definition_steps import spec_check, step_parse
from .jsonread import (
    BAD_VALUE,
    NOT_AN_OBJECT,
    DefinitionError,
    as_list,
    as_object,
    flag,
    items_of,
    keys_check,
    name_of,
    text,
    text_or_none,
    whole_or_none,
)
from .push_definition import push_section_check
from .scenario_types import (
    MISSING_QUEUE,
    ActionDef,
    Allow,
    BurstDef,
    MessageDef,
    MessagesDef,
    QueueDef,
    ScenarioDefinition,
    SubscriptionDef,
    Target,
    TopicDef,
    WorkerDef,
    WorkersStepDef,
    scenario_prefix,
)

__all__ = [
    "ActionDef", "Allow", "BurstDef", "DefinitionError", "MessageDef", "MessagesDef", "QueueDef",
    "ScenarioDefinition", "SubscriptionDef", "Target", "TopicDef", "WorkerDef", "WorkersStepDef",
    "definition_parse", "scenario_prefix",
]  # fmt: skip

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX = 24
BASE_URL_MARK = "{base_url}"

BAD_SLUG = (
    "A scenario's slug is 1-24 lowercase letters, digits and single hyphens "
    "(it becomes part of every resource name)."
)
DUPLICATE_NAME = "{where}: a {kind} named {name!r} is declared twice."
FIFO_MISMATCH = "{where}: {detail}"
DLQ_CYCLE = "Queue {name!r}: its dead-letter queues lead back to itself."


def slug_validate(slug: str) -> str:
    if not (0 < len(slug) <= SLUG_MAX and SLUG_RE.match(slug)):
        raise DefinitionError(BAD_SLUG)
    return slug


def definition_parse(data: Any, *, slug: str) -> ScenarioDefinition:
    """Check a definition and return it typed; raises `DefinitionError` at the first fault."""
    slug_validate(slug)
    root = as_object(data, "The definition")
    keys_check(
        root,
        "The definition",
        {"topics", "queues", "subscriptions", "workers", "publish", "allow", "actions", "push"},
    )
    topics = tuple(_topic(t, i, slug) for i, t in items_of(root, "topics", "The definition"))
    queues = tuple(_queue(q, i, slug) for i, q in items_of(root, "queues", "The definition"))
    _unique(topics, "topic")
    _unique(queues, "queue")
    partial = ScenarioDefinition(slug=slug, topics=topics, queues=queues)
    for queue in queues:
        _dead_letter_check(partial, queue)
    subscriptions = tuple(
        _subscription(s, i, partial) for i, s in items_of(root, "subscriptions", "The definition")
    )
    workers = tuple(_worker(w, i, partial) for i, w in items_of(root, "workers", "The definition"))
    seen_workers = [w.queue for w in workers]
    for name in seen_workers:
        if seen_workers.count(name) > 1:
            raise DefinitionError(
                DUPLICATE_NAME.format(where="Workers", kind="worker spec for queue", name=name)
            )
    partial = replace(partial, workers=workers)
    publish = tuple(
        step_parse(p, i, partial) for i, p in items_of(root, "publish", "The definition")
    )
    allow = _allow(root.get("allow", {}), partial)
    # Mobile push (phones as devices): checked here, used by ``push_class``.
    push_section_check(root.get("push"), topics={t.name for t in topics})
    actions = tuple(_action(a, i, partial) for i, a in items_of(root, "actions", "The definition"))
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
    item = as_object(data, where)
    keys_check(item, where, {"name", "fifo", "content_based_deduplication"})
    name = text(item, "name", where)
    fifo = flag(item, "fifo", where)
    _name_check(slug, name, kind="topic", fifo=fifo, where=f"Topic {name!r}")
    return TopicDef(
        name=name,
        fifo=fifo,
        content_based_deduplication=flag(item, "content_based_deduplication", where),
    )


def _queue(data: Any, i: int, slug: str) -> QueueDef:
    where = f"Queue {i}"
    item = as_object(data, where)
    keys_check(item, where, {f.name for f in fields(QueueDef)})
    name = text(item, "name", where)
    where = f"Queue {name!r}"
    fifo = flag(item, "fifo", where)
    _name_check(slug, name, kind="queue", fifo=fifo, where=where)
    return QueueDef(
        name=name,
        fifo=fifo,
        content_based_deduplication=flag(item, "content_based_deduplication", where),
        visibility_timeout=whole_or_none(item, "visibility_timeout", where),
        receive_wait_seconds=whole_or_none(item, "receive_wait_seconds", where),
        dead_letter_queue=text_or_none(item, "dead_letter_queue", where),
        max_receive_count=whole_or_none(item, "max_receive_count", where),
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
    item = as_object(data, where)
    keys_check(item, where, {f.name for f in fields(SubscriptionDef)})
    topic = definition.topic_ref(text(item, "topic", where), where)
    protocol = text(item, "protocol", where).lower()
    if protocol not in PROTOCOLS:
        raise DefinitionError(
            BAD_VALUE.format(where=where, detail=f"protocol must be one of {', '.join(PROTOCOLS)}.")
        )
    queue = endpoint = None
    if protocol == "sqs":
        queue = definition.queue_ref(text(item, "queue", where), where)
        if definition.queue(queue).fifo != topic.fifo:
            detail = (
                "a FIFO topic can deliver only to FIFO queues."
                if topic.fifo
                else "a standard topic cannot deliver to a FIFO queue."
            )
            raise DefinitionError(FIFO_MISMATCH.format(where=where, detail=detail))
    else:
        endpoint = text(item, "endpoint", where)
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
        raw_message_delivery=flag(item, "raw_message_delivery", where),
    )


def _worker(data: Any, i: int, definition: ScenarioDefinition) -> WorkerDef:
    where = f"Worker spec {i}"
    item = as_object(data, where)
    keys_check(item, where, {"queue", *(f.name for f in fields(WorkerSpec))})
    queue = definition.queue_ref(text(item, "queue", where), where)
    spec_fields = {k: v for k, v in item.items() if k != "queue"}
    return WorkerDef(queue=queue, spec=spec_check(spec_fields, f"Workers on {queue!r}"))


def _allow(data: Any, definition: ScenarioDefinition) -> Allow:
    where = "allow"
    item = as_object(data, where)
    keys_check(item, where, {"topics", "queues", "work"})
    topics = tuple(
        definition.topic_ref(name_of(n, f"allow.topics[{i}]"), f"allow.topics[{i}]").name
        for i, n in enumerate(as_list(item.get("topics", []), "allow.topics"))
    )
    queues = tuple(
        definition.queue_ref(name_of(n, f"allow.queues[{i}]"), f"allow.queues[{i}]")
        for i, n in enumerate(as_list(item.get("queues", []), "allow.queues"))
    )
    work = tuple(
        definition.queue_ref(name_of(n, f"allow.work[{i}]"), f"allow.work[{i}]")
        for i, n in enumerate(as_list(item.get("work", []), "allow.work"))
    )
    return Allow(topics=topics, queues=queues, work=work)


def _action(data: Any, i: int, definition: ScenarioDefinition) -> ActionDef:
    where = f"Action {i}"
    item = as_object(data, where)
    keys_check(item, where, {"label", "kind", "queue", "dead_letter_queue", "spec"})
    label = text(item, "label", where)
    kind = item.get("kind")
    queue = definition.queue_ref(text(item, "queue", where), where)
    if kind == "workers":
        spec = as_object(item.get("spec", {}), f"{where} spec")
        worker = definition.worker(queue)
        spec_check(spec, f"{where} spec", base=worker.spec if worker else WorkerSpec())
        return ActionDef(label=label, kind=kind, queue=queue, spec=dict(spec))
    if kind == "redrive":
        dead_letter = definition.queue_ref(text(item, "dead_letter_queue", where), where)
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


def _name_check(slug: str, name: str, *, kind: str, fifo: bool, where: str) -> None:
    try:
        resource_name_validate(scenario_prefix(slug) + name, kind=kind, fifo=fifo)
    except FlowdashError as exc:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=exc.message)) from None


def _unique(items: tuple[TopicDef, ...] | tuple[QueueDef, ...], kind: str) -> None:
    names = [i.name for i in items]
    for name in names:
        if names.count(name) > 1:
            raise DefinitionError(
                DUPLICATE_NAME.format(where="The definition", kind=kind, name=name)
            )
