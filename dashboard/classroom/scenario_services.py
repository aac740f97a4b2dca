"""Scenario services: load, play, reset, and the instructor's actions. Keyword-only.

Loading creates resources only under the scenario's own prefix (``sc-<slug>-``,
after Flowdash's resource prefix) and resetting removes exactly the resources
under that prefix, with their simulated workers. Loading is idempotent where
AWS is (CreateTopic and CreateQueue return what exists when the settings match),
so loading twice reuses the resources; a load that fails part way removes what
it created and leaves what was there before.

Playing is a separate step because the flow engine sees a new topic only after
its next topology read and tap: a burst published before the tap exists would
go unseen. The presenter page plays as soon as the diagram shows the
scenario's resources. Bursts run in the engine (``burst.start``); explicit
message lists are sent here, one request each (at most 100 per step).

On real AWS a queue cannot be created again within 60 s of deleting it, so a
reset followed at once by a load fails there with AWS's message.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings

from messaging import push, resources, subscriptions
from messaging.connection import Connection
from messaging.errors import FlowdashError, InvalidInput, ResourceNotFound
from messaging.resources import Queue, arn_name
from messaging.workers import WorkerSpec

from ..backend import connection
from ..flowbus import worker_spec
from ..models import WorkerSetting
from ..services import queue_redrive, worker_settings_set
from .definition import (
    BASE_URL_MARK,
    BurstDef,
    DefinitionError,
    MessagesDef,
    QueueDef,
    ScenarioDefinition,
    Target,
    WorkersStepDef,
    scenario_prefix,
)
from .errors import NO_SUCH_ACTION, NO_WORKERS_HERE, NOT_LOADED, ClassroomError, ScenarioNotLoaded
from .models import Scenario
from .sending import burst_start, messages_send
from .session_services import participants_release

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadResult:
    """What a load made or found, by the scenario's short names."""

    topics: dict[str, str] = field(default_factory=dict)  # name -> ARN
    queues: dict[str, str] = field(default_factory=dict)  # name -> ARN
    subscriptions: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayResult:
    bursts: int = 0
    sent: list[str] = field(default_factory=list)  # trace ids of the messages sent here


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetResult:
    topics: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    subscriptions: int = 0
    workers: int = 0
    #: Mobile push: the platform applications deleted, and their devices with them.
    applications: list[str] = field(default_factory=list)
    devices: int = 0


def scenario_definition(*, scenario: Scenario) -> ScenarioDefinition:
    """The scenario's checked definition; a broken one is an input error, not a crash."""
    try:
        return scenario.parsed()
    except DefinitionError as exc:
        raise InvalidInput(exc.message, field="definition") from None


def owned_prefix(*, conn: Connection, scenario: Scenario) -> str:
    """The full name prefix of everything the scenario owns on the backend."""
    return conn.prefix + scenario_prefix(scenario.slug)


def scenario_load(*, scenario: Scenario, user: Any, base_url: str | None = None) -> LoadResult:
    """Create the scenario's topics, queues, subscriptions and workers."""
    definition = scenario_definition(scenario=scenario)
    conn = connection()
    owned = owned_prefix(conn=conn, scenario=scenario)
    existing_topics = {arn_name(a) for a in resources.topic_arns(conn)}
    existing_queues = {_url_name(u) for u in resources.queue_urls(conn)}
    made_topics: list[str] = []
    made_queues: list[str] = []
    made_subscriptions: list[str] = []
    try:
        topics: dict[str, str] = {}
        for t in definition.topics:
            topic = resources.topic_create(
                conn, name=definition.prefix + t.name, fifo=t.fifo,
                content_based_deduplication=t.content_based_deduplication,
            )  # fmt: skip
            topics[t.name] = topic.arn
            if owned + t.name not in existing_topics:
                made_topics.append(topic.arn)
        queues: dict[str, Queue] = {}
        for q in _dead_letter_queues_first(definition.queues):
            queue = _queue_create(conn, definition, q, queues)
            queues[q.name] = queue
            if owned + q.name not in existing_queues:
                made_queues.append(queue.url)
        subscription_arns = _subscriptions_ensure(
            conn, definition, topics, queues, _base_url(base_url), made_subscriptions
        )
        for worker in definition.workers:
            worker_settings_set(queue_arn=queues[worker.queue].arn, spec=worker.spec)
    except Exception:
        _undo(conn, made_subscriptions, made_topics, made_queues)
        raise
    logger.info("%s loaded scenario %s", user, scenario.slug)
    return LoadResult(
        topics=topics,
        queues={name: q.arn for name, q in queues.items()},
        subscriptions=subscription_arns,
    )


def scenario_play(*, scenario: Scenario, user: Any) -> PlayResult:
    """Run the publishing pattern: bursts in the engine, message lists from here.

    Every target is resolved before anything is sent, so a scenario that was
    never loaded sends nothing.
    """
    definition = scenario_definition(scenario=scenario)
    conn = connection()
    owned = owned_prefix(conn=conn, scenario=scenario)
    topics = {arn_name(a): a for a in resources.topic_arns(conn)}
    urls = {_url_name(u): u for u in resources.queue_urls(conn)}

    def address(target: Target) -> str:
        found = (topics if target.kind == "topic" else urls).get(owned + target.name)
        if found is None:
            raise ScenarioNotLoaded(NOT_LOADED.format(kind=target.kind, name=target.name))
        return found

    for step in definition.publish:
        if isinstance(step, MessagesDef):
            for target in step.to:
                address(target)
        elif isinstance(step, BurstDef):
            address(step.target)
    _late_workers_stop(conn, scenario, definition)
    run = uuid.uuid4().hex[:8]
    bursts = 0
    sent: list[str] = []
    for step in definition.publish:
        if isinstance(step, BurstDef):
            burst_start(step=step, address=address(step.target))
            bursts += 1
        elif isinstance(step, MessagesDef):
            sent.extend(
                messages_send(conn, definition=definition, step=step, address=address, run=run)
            )
        else:
            scenario_workers_set(scenario=scenario, queue=step.queue, count=step.count, user=user)
    logger.info("%s played scenario %s", user, scenario.slug)
    return PlayResult(bursts=bursts, sent=sent)


def scenario_reset(*, scenario: Scenario, user: Any) -> ResetResult:
    """Remove every resource under the scenario's prefix, and its workers: topics,
    queues, subscriptions, and the mobile-push platform applications with their devices
    (the phones of a "Mobile push step by step" class), which would otherwise outlive
    the class topic they were subscribed to and keep their tokens taken."""
    conn = connection()
    owned = owned_prefix(conn=conn, scenario=scenario)
    topic_arns = [a for a in resources.topic_arns(conn) if arn_name(a).startswith(owned)]
    queue_urls = [u for u in resources.queue_urls(conn) if _url_name(u).startswith(owned)]
    applications = [a for a in push.platform_application_list(conn) if a.name.startswith(owned)]
    rows = [
        row
        for row in WorkerSetting.objects.filter(queue_arn__contains=":" + owned)
        if arn_name(row.queue_arn).startswith(owned)
    ]
    for row in rows:  # stop the workers before their queues go
        worker_settings_set(queue_arn=row.queue_arn, spec=WorkerSpec(count=0))
    WorkerSetting.objects.filter(pk__in=[r.pk for r in rows]).delete()
    participants_release(queue_name_prefix=owned)
    # Devices first: deleting an application unsubscribes its devices from every topic.
    devices = 0
    for app in applications:
        try:
            devices += push.platform_application_delete(conn, arn=app.arn)
        except ResourceNotFound:
            continue  # deleted meanwhile: what reset wants
        except FlowdashError as exc:  # as ``_quietly``: the rest of the reset goes on
            logger.warning("classroom clean-up: %s", exc.message)
    removed_subscriptions = 0
    for arn in topic_arns:
        for sub in subscriptions.subscription_list(conn, topic_arn=arn):
            _quietly(subscriptions.subscription_delete, conn, arn=sub.arn)
            removed_subscriptions += 1
        _quietly(resources.topic_delete, conn, arn=arn)
    for url in queue_urls:
        _quietly(resources.queue_delete, conn, url=url)
    logger.info("%s reset scenario %s", user, scenario.slug)
    return ResetResult(
        topics=[arn_name(a) for a in topic_arns],
        queues=[_url_name(u) for u in queue_urls],
        subscriptions=removed_subscriptions,
        workers=len(rows),
        applications=[a.name for a in applications],
        devices=devices,
    )


def scenario_action_run(*, scenario: Scenario, index: int, user: Any) -> str:
    """One of the scenario's instructor actions ("fix the worker", "redrive"); says what it did."""
    definition = scenario_definition(scenario=scenario)
    if not 0 <= index < len(definition.actions):
        raise ClassroomError(NO_SUCH_ACTION.format(index=index), code="NoSuchAction")
    action = definition.actions[index]
    conn = connection()
    queue = _scenario_queue(conn, scenario, action.queue)
    if action.kind == "workers":
        spec = replace(_current_spec(definition, action.queue, queue.arn), **action.spec)
        worker_settings_set(queue_arn=queue.arn, spec=spec)
        logger.info("%s ran action %r of scenario %s", user, action.label, scenario.slug)
        return f"{action.label}: done."
    dead_letter = _scenario_queue(conn, scenario, action.dead_letter_queue or "")
    result = queue_redrive(dead_letter=dead_letter, source=queue, limit=None)
    logger.info("%s redrove %s message(s) in scenario %s", user, result.moved, scenario.slug)
    return f"{action.label}: moved {result.moved} message(s) back to {action.queue}."


def scenario_workers_set(*, scenario: Scenario, queue: str, count: int, user: Any) -> WorkerSpec:
    """Change how many simulated workers a scenario queue has, keeping how they behave."""
    definition = scenario_definition(scenario=scenario)
    if not any(q.name == queue for q in definition.queues):
        raise ClassroomError(NO_WORKERS_HERE.format(name=queue), code="NotInScenario")
    found = _scenario_queue(connection(), scenario, queue)
    spec = replace(_current_spec(definition, queue, found.arn), count=count).validate()
    worker_settings_set(queue_arn=found.arn, spec=spec)
    logger.info("%s set %s worker(s) on %s", user, count, found.name)
    return spec


# Helpers ----------------------------------------------------------------------------


def _url_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _base_url(given: str | None) -> str:
    """Flowdash's own address (``FLOWDASH_PUBLIC_URL``), for HTTP subscriptions that
    deliver to Flowdash's receiver; embedded mode allows that host for subscriptions."""
    return (given or settings.FLOWDASH_PUBLIC_URL).rstrip("/") + "/"


def _dead_letter_queues_first(queues: tuple[QueueDef, ...]) -> list[QueueDef]:
    """Queues in an order where each dead-letter queue exists before its sources."""
    ordered: list[QueueDef] = []
    pending = list(queues)
    while pending:  # definition_parse refused cycles, so each pass places at least one
        done = {q.name for q in ordered}
        ready = [q for q in pending if not q.dead_letter_queue or q.dead_letter_queue in done]
        ordered.extend(ready)
        pending = [q for q in pending if q not in ready]
    return ordered


def _queue_create(
    conn: Connection, definition: ScenarioDefinition, q: QueueDef, made: dict[str, Queue]
) -> Queue:
    return resources.queue_create(
        conn,
        name=definition.prefix + q.name,
        fifo=q.fifo,
        content_based_deduplication=q.content_based_deduplication,
        visibility_timeout=q.visibility_timeout,
        receive_wait_seconds=q.receive_wait_seconds,
        dead_letter_queue_arn=made[q.dead_letter_queue].arn if q.dead_letter_queue else None,
        max_receive_count=q.max_receive_count,
    )


def _subscriptions_ensure(
    conn: Connection,
    definition: ScenarioDefinition,
    topics: dict[str, str],
    queues: dict[str, Queue],
    base_url: str,
    made: list[str],
) -> list[str]:
    """Subscribe what is missing; an existing subscription gets the definition's policy."""
    arns = []
    current = {
        arn: {(sub.protocol, sub.endpoint): sub for sub in _subscriptions_of(conn, arn)}
        for arn in topics.values()
    }
    for s in definition.subscriptions:
        topic_arn = topics[s.topic]
        endpoint = queues[s.queue].arn if s.queue else (s.endpoint or "")
        endpoint = endpoint.replace(BASE_URL_MARK, base_url)
        found = current[topic_arn].get((s.protocol, endpoint))
        if found is not None:
            subscriptions.subscription_update(
                conn, arn=found.arn, filter_policy=s.filter_policy,
                filter_policy_scope=s.filter_policy_scope,
                raw_message_delivery=s.raw_message_delivery,
            )  # fmt: skip
            arns.append(found.arn)
            continue
        created = subscriptions.subscription_create(
            conn, topic_arn=topic_arn, protocol=s.protocol, endpoint=endpoint,
            filter_policy=s.filter_policy, filter_policy_scope=s.filter_policy_scope,
            raw_message_delivery=s.raw_message_delivery,
        )  # fmt: skip
        made.append(created.arn)
        arns.append(created.arn)
    return arns


def _subscriptions_of(conn: Connection, topic_arn: str) -> list[Any]:
    return subscriptions.subscription_list(conn, topic_arn=topic_arn)


def _undo(conn: Connection, subs: list[str], topics: list[str], queues: list[str]) -> None:
    """Remove what a failed load created; what existed before it stays."""
    for arn in subs:
        _quietly(subscriptions.subscription_delete, conn, arn=arn)
    for arn in topics:
        _quietly(resources.topic_delete, conn, arn=arn)
    for url in reversed(queues):
        _quietly(resources.queue_delete, conn, url=url)


def _quietly(operation: Any, conn: Connection, **kwargs: Any) -> None:
    """Clean-up tolerates what is gone already; other failures are logged, not raised."""
    try:
        operation(conn, **kwargs)
    except ResourceNotFound:
        pass
    except FlowdashError as exc:
        logger.warning("classroom clean-up: %s", exc.message)


def _late_workers_stop(
    conn: Connection, scenario: Scenario, definition: ScenarioDefinition
) -> None:
    """Workers that a ``workers`` step starts must not be running while the messages go in.

    The reason is an embedded-backend quirk: moto decides which FIFO message groups
    are busy once, when a ReceiveMessage starts, so a long poll that began while a
    group was idle can hand out a second message of that group while the first is
    still in flight. Workers started after the sends never wait in such a poll. On
    a replay they are stopped first, and the play waits for their last long poll.
    """
    running = []
    for step in definition.publish:
        if isinstance(step, WorkersStepDef):
            queue = _scenario_queue(conn, scenario, step.queue)
            spec = _current_spec(definition, step.queue, queue.arn)
            if spec.count:
                worker_settings_set(queue_arn=queue.arn, spec=replace(spec, count=0))
                running.append(spec.wait_seconds)
    if running:
        time.sleep(max(running) + 0.5)


def _scenario_queue(conn: Connection, scenario: Scenario, name: str) -> Queue:
    full = owned_prefix(conn=conn, scenario=scenario) + name
    url = next((u for u in resources.queue_urls(conn) if _url_name(u) == full), None)
    if url is None:
        raise ScenarioNotLoaded(NOT_LOADED.format(kind="queue", name=name))
    return resources.queue_get(conn, url=url)


def _current_spec(definition: ScenarioDefinition, queue: str, queue_arn: str) -> WorkerSpec:
    """How the queue's workers behave now (the stored setting), else as the definition says."""
    declared = definition.worker(queue)
    wait = declared.spec.wait_seconds if declared else WorkerSpec().wait_seconds
    row = WorkerSetting.objects.filter(queue_arn=queue_arn).first()
    if row is not None:
        return replace(worker_spec(row), wait_seconds=wait)
    return declared.spec if declared else WorkerSpec(count=0, wait_seconds=wait)
