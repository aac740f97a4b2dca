"""Saving the current topology as a new scenario: what an instructor built by hand (or a
loaded scenario they changed) becomes loadable in one click, next time or in another class.

What goes in: every topic and queue under Flowdash's resource prefix (FIFO, content-based
deduplication, visibility timeout, receive wait, dead-letter queue and maxReceiveCount),
every subscription between them (filter policy and its scope, raw delivery; HTTP, email
and SMS endpoints too, with Flowdash's own address written as ``{base_url}``) and the
simulated workers running on those queues. A scenario has no publishing steps of its own
here and allows participants nothing: the instructor adds those in the admin.

What cannot go in is left out and said (``notes``): a dead-letter queue or SQS endpoint
outside the topology, delivery to a protocol scenarios do not know, and queue delays and
retention periods, which scenario definitions do not carry.

Names: loading puts every resource under the scenario's own prefix ``sc-<slug>-`` (so
that Reset removes exactly what the scenario made), so the saved names are those the
topology shows, less the resource prefix. When every resource already sits under one
existing scenario's prefix (a loaded scenario, changed), that prefix is dropped as well,
so that saving "fanout" as "fanout-2" gives ``sc-fanout-2-orders``, not
``sc-fanout-2-sc-fanout-orders``.

The saved definition is checked by ``definition_parse`` like any other, so a name that
becomes too long with the scenario's prefix is refused with the definition's message,
before anything is stored. Cost: one topology read (about one request per resource).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from messaging.errors import InvalidInput
from messaging.subscriptions import PROTOCOLS
from messaging.topology import Topology, topology_get

from ..backend import connection
from ..flowbus import worker_spec
from ..models import WorkerSetting
from .definition import BASE_URL_MARK, DefinitionError, definition_parse, slug_validate
from .errors import (
    NOTHING_TO_SAVE,
    SCENARIO_NAME_MISSING,
    SCENARIO_NAME_TAKEN,
    SCENARIO_SLUG_TAKEN,
    ScenarioExists,
)
from .models import Scenario
from .scenario_types import scenario_prefix

logger = logging.getLogger(__name__)

NAME_MAX = 100
#: The queue settings SQS gives as attributes and a scenario's queue carries.
QUEUE_ATTRIBUTES = (
    ("visibility_timeout", "VisibilityTimeout"),
    ("receive_wait_seconds", "ReceiveMessageWaitTimeSeconds"),
)
#: Settings a scenario's queue cannot carry, with SQS's defaults: a note when they differ.
UNCARRIED = (("DelaySeconds", "0", "delay"), ("MessageRetentionPeriod", "345600", "retention"))

DLQ_OUTSIDE = "Queue {queue!r}: its dead-letter queue {arn} is not in the topology; left out."
ENDPOINT_OUTSIDE = "Subscription of {topic!r} to {endpoint}: the queue is not in the topology."
PROTOCOL_UNKNOWN = "Subscription of {topic!r} over {protocol}: scenarios cannot hold it."
NOT_CARRIED = "Queue {queue!r}: its {what} ({value} s) is not part of scenarios; left out."


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveResult:
    """The scenario stored, and what of the topology it could not hold."""

    scenario: Scenario
    topics: int = 0
    queues: int = 0
    subscriptions: int = 0
    workers: int = 0
    notes: list[str] = field(default_factory=list)


def scenario_save(*, slug: str, name: str, explanation: str, user: Any) -> SaveResult:
    """Store the current topology (and its workers) as a new scenario named ``slug``.

    Refused with nothing stored: a slug that is malformed or taken, an empty or taken
    name (two scenarios of one name could not be told apart in the lists), an empty
    topology, or a definition ``definition_parse`` refuses (a name too long with
    ``sc-<slug>-`` in front, say).
    """
    slug = slug.strip().lower()
    name = " ".join(name.split())
    try:
        slug_validate(slug)
    except DefinitionError as exc:
        raise InvalidInput(exc.message, field="slug") from None
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(SCENARIO_NAME_MISSING.format(limit=NAME_MAX), field="name")
    if Scenario.objects.filter(slug=slug).exists():
        raise ScenarioExists(SCENARIO_SLUG_TAKEN.format(slug=slug), field="slug")
    if Scenario.objects.filter(name__iexact=name).exists():
        raise ScenarioExists(SCENARIO_NAME_TAKEN.format(name=name), field="name")
    conn = connection()
    topology = topology_get(conn)
    if not topology.topics and not topology.queues:
        raise InvalidInput(NOTHING_TO_SAVE, field="slug")
    workers = {
        row.queue_arn: worker_spec(row)
        for row in WorkerSetting.objects.filter(queue_arn__in=[q.arn for q in topology.queues])
    }
    slugs = Scenario.objects.values_list("slug", flat=True)
    definition, notes = definition_from_topology(
        topology=topology,
        resource_prefix=conn.prefix,
        scenario_prefixes=[scenario_prefix(s) for s in slugs],
        workers={arn: asdict(spec) for arn, spec in workers.items() if spec.count > 0},
        base_url=settings.FLOWDASH_PUBLIC_URL.rstrip("/") + "/",
    )
    try:
        definition_parse(definition, slug=slug)
    except DefinitionError as exc:
        raise InvalidInput(exc.message, field="slug") from None
    explanation = explanation.strip() or (
        f"Saved from the topology by {user}: {_counted(definition)}. Load it, then publish."
    )
    with transaction.atomic():
        scenario = Scenario.objects.create(
            slug=slug, name=name, explanation=explanation, definition=definition
        )
    logger.info("%s saved the topology as scenario %s", user, slug)
    return SaveResult(
        scenario=scenario,
        topics=len(definition["topics"]),
        queues=len(definition["queues"]),
        subscriptions=len(definition["subscriptions"]),
        workers=len(definition["workers"]),
        notes=notes,
    )


def definition_from_topology(
    *,
    topology: Topology,
    resource_prefix: str,
    scenario_prefixes: Iterable[str],
    workers: dict[str, dict[str, Any]],
    base_url: str,
) -> tuple[dict[str, Any], list[str]]:
    """A scenario definition (the JSON ``definition.py`` documents) of ``topology``, and
    notes on what it left out. ``workers`` maps a queue ARN to its worker spec's fields."""
    short = _namer(topology, resource_prefix, list(scenario_prefixes))
    notes: list[str] = []
    queue_names = {q.arn: short(q.name) for q in topology.queues}
    topic_names = {t.arn: short(t.name) for t in topology.topics}
    topics = [
        {"name": topic_names[t.arn], "fifo": t.fifo,
         "content_based_deduplication": t.content_based_deduplication}
        for t in sorted(topology.topics, key=lambda t: topic_names[t.arn])
    ]  # fmt: skip
    queues = []
    for q in sorted(topology.queues, key=lambda q: queue_names[q.arn]):
        entry: dict[str, Any] = {
            "name": queue_names[q.arn], "fifo": q.fifo,
            "content_based_deduplication": q.content_based_deduplication,
        }  # fmt: skip
        for key, attribute in QUEUE_ATTRIBUTES:
            if q.attributes.get(attribute, "") != "":
                entry[key] = int(q.attributes[attribute])
        for attribute, default, what in UNCARRIED:
            value = q.attributes.get(attribute)
            if value not in (None, "", default):
                notes.append(NOT_CARRIED.format(queue=entry["name"], what=what, value=value))
        if q.dead_letter_arn:
            if q.dead_letter_arn in queue_names:
                entry["dead_letter_queue"] = queue_names[q.dead_letter_arn]
                entry["max_receive_count"] = q.max_receive_count
            else:
                notes.append(DLQ_OUTSIDE.format(queue=entry["name"], arn=q.dead_letter_arn))
        queues.append(entry)
    subscriptions = []
    for sub in topology.subscriptions:
        topic = topic_names.get(sub.topic_arn)
        if topic is None:
            continue
        item: dict[str, Any] = {"topic": topic, "protocol": sub.protocol}
        if sub.protocol == "sqs":
            if sub.endpoint not in queue_names:
                notes.append(ENDPOINT_OUTSIDE.format(topic=topic, endpoint=sub.endpoint))
                continue
            item["queue"] = queue_names[sub.endpoint]
        elif sub.protocol in PROTOCOLS:
            item["endpoint"] = sub.endpoint.replace(base_url, BASE_URL_MARK)
        else:
            notes.append(PROTOCOL_UNKNOWN.format(topic=topic, protocol=sub.protocol))
            continue
        if sub.filter_policy:
            item["filter_policy"] = json.loads(sub.filter_policy)
            item["filter_policy_scope"] = sub.filter_policy_scope
        if sub.raw_message_delivery:
            item["raw_message_delivery"] = True
        subscriptions.append(item)
    subscriptions.sort(key=lambda s: (s["topic"], s.get("queue") or s.get("endpoint", "")))
    worker_defs = [
        {"queue": queue_names[arn], **spec}
        for arn, spec in sorted(workers.items(), key=lambda kv: queue_names.get(kv[0], ""))
        if arn in queue_names
    ]
    definition = {
        "topics": topics,
        "queues": queues,
        "subscriptions": subscriptions,
        "workers": worker_defs,
    }
    return definition, notes


def _namer(
    topology: Topology, resource_prefix: str, scenario_prefixes: list[str]
) -> Callable[[str], str]:
    """Short names: without the resource prefix, and without one scenario's prefix when
    every topic and queue carries the same one (the longest that fits: ``sc-fanout-2-``
    rather than ``sc-fanout-``)."""
    names = [t.name for t in topology.topics] + [q.name for q in topology.queues]
    relative = [_without(n, resource_prefix) for n in names]
    shared = next(
        (
            p
            for p in sorted(scenario_prefixes, key=len, reverse=True)
            if relative and all(n.startswith(p) for n in relative)
        ),
        "",
    )

    def short(name: str) -> str:
        return _without(_without(name, resource_prefix), shared)

    return short


def _without(name: str, prefix: str) -> str:
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def _counted(definition: dict[str, Any]) -> str:
    parts = [
        f"{len(definition[key])} {key if len(definition[key]) != 1 else key[:-1]}"
        for key in ("topics", "queues", "subscriptions", "workers")
        if definition[key]
    ]
    return ", ".join(parts)
