"""``Flow.verify``: Zulip's ``verify_action``, for Flowdash's flow events.

For an action done for real against the embedded moto (by another program's boto3
client, or through Flowdash's own API where only that makes the event), it:

1. waits until the engine is quiet and caught up, and takes a snapshot ("old");
2. runs the action and captures every event the engine emits;
3. waits until the engine is quiet again and takes a fresh snapshot ("fresh");
4. checks each event against its dataclass (``event_check``), and that the events
   are exactly the sequence numbers between the two snapshots;
5. applies them to the old snapshot and asserts that the result agrees with the fresh
   snapshot, in both of ``apply``'s models of a re-read: Zulip's "hybrid"
   (``snapshot_apply``, the re-read's parts from the fresh snapshot) and a browser
   that resyncs at once (``snapshot_resync_apply``, from the snapshot taken on the
   engine's loop right after each ``resource_changed``).

Quiet means no event for ``QUIET_SECONDS``; caught up means the engine's picture
agrees with the broker's memory: every queue's depth is the broker's own count (so
the observer's batched depth read, ``DEPTH_INTERVAL``, has run) and the topology
names the topics, queues and subscriptions the broker lists.

``covers`` registers which event types a test is the contract test of; the
meta-test (``test_coverage``) fails when a type in ``EVENT_TYPES`` has none.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, TypeVar

from messaging.embedded.broker import queue_depth
from messaging.engine import FlowEngine
from messaging.events import EVENT_TYPES, FlowEvent

from .apply import REFETCH_TYPES, snapshot_apply, snapshot_differences, snapshot_resync_apply

#: No event for this long, and the engine caught up with the broker: the action is over.
QUIET_SECONDS = 0.3
#: How long an action's consequences may take at most (timers included).
SETTLE_WITHIN = 15.0
POLL_SECONDS = 0.02

F = TypeVar("F", bound=Callable[..., Any])

#: Event type -> the tests that are its contract test.
COVERED: dict[str, list[str]] = {}
#: (kind, action) of ``resource_changed`` -> the tests that make it happen.
COVERED_RESOURCE_CHANGES: dict[tuple[str, str], list[str]] = {}


def covers(
    *event_types: str, resource_changes: tuple[tuple[str, str], ...] = ()
) -> Callable[[F], F]:
    """Mark a test as the contract test of these event types (and, for
    ``resource_changed``, of these ``(kind, action)`` pairs)."""
    unknown = set(event_types) - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"not flow event types: {sorted(unknown)}")

    def mark(test: F) -> F:
        for event_type in event_types:
            COVERED.setdefault(event_type, []).append(test.__name__)
        for change in resource_changes:
            COVERED_RESOURCE_CHANGES.setdefault(change, []).append(test.__name__)
        return test

    return mark


# --- Event schema


def event_check(event: Mapping[str, Any]) -> None:
    """An event as a viewer receives it: a known type, exactly its dataclass's fields,
    each of the annotated type, and JSON that survives the socket."""
    event_type = event.get("type")
    assert event_type in EVENT_TYPES, f"unknown event type {event_type!r}: {dict(event)}"
    cls = EVENT_TYPES[event_type]
    names = {f.name for f in fields(cls)}
    assert set(event) == names, (
        f"{event_type} event has fields {sorted(event)}, its dataclass "
        f"messaging.events.{cls.__name__} declares {sorted(names)}"
    )
    hints = typing.get_type_hints(cls)
    for name, value in event.items():
        assert _conforms(value, hints[name]), (
            f"{event_type}.{name} = {value!r} is not a {hints[name]} "
            f"(messaging.events.{cls.__name__})"
        )
    assert json.loads(json.dumps(dict(event))) == dict(event), f"not plain JSON: {dict(event)}"


def _conforms(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is dict:
        key_hint, value_hint = typing.get_args(hint)
        return isinstance(value, dict) and all(
            _conforms(k, key_hint) and _conforms(v, value_hint) for k, v in value.items()
        )
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


# --- Capturing


class Recorder:
    """Every event an engine emits, with when it arrived (``time.monotonic``), and the
    snapshot a viewer re-reading on each ``resource_changed`` would get at the earliest:
    taken on the engine's loop right after the code that emitted it."""

    def __init__(self, engine: FlowEngine, loop: asyncio.AbstractEventLoop) -> None:
        self.events: list[FlowEvent] = []
        self.resyncs: list[dict[str, Any]] = []
        self.last_at = time.monotonic()
        self._engine = engine
        self._loop = loop
        engine.emitter.subscribe(self._add)

    def _add(self, event: FlowEvent) -> None:
        self.events.append(event)
        self.last_at = time.monotonic()
        if event.type in REFETCH_TYPES:
            self._loop.call_soon_threadsafe(self._resync)

    def _resync(self) -> None:
        self.resyncs.append(self._engine.snapshot())

    def between(self, after_seq: int, upto_seq: int | None = None) -> list[FlowEvent]:
        return [
            e for e in self.events if after_seq < e.seq and (upto_seq is None or e.seq <= upto_seq)
        ]


@dataclass(frozen=True, slots=True)
class Verified:
    """What one ``verify_action`` saw: events as dicts, and the three snapshots."""

    events: list[dict[str, Any]]
    old: dict[str, Any]
    fresh: dict[str, Any]
    hybrid: dict[str, Any]

    def of(self, event_type: str, /, **values: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["type"] == event_type and all(e.get(k) == v for k, v in values.items())
        ]

    def one(self, event_type: str, /, **values: Any) -> dict[str, Any]:
        found = self.of(event_type, **values)
        assert len(found) == 1, f"{len(found)} {event_type} events {values}: {self.kinds()}"
        return found[0]

    def kinds(self) -> list[str]:
        return [e["type"] for e in self.events]


Action = Callable[[], Any]
Until = Callable[[Verified], bool]


class Flow:
    """An engine under test, its recorder and another program's boto3 clients."""

    def __init__(self, engine: FlowEngine, sns: Any, sqs: Any) -> None:
        self.engine = engine
        self.recorder = Recorder(engine, asyncio.get_running_loop())
        #: Plain boto3 clients over HTTP: to the broker, another program (``Boto3/...``).
        self.sns = sns
        self.sqs = sqs

    async def run(self, action: Action) -> Any:
        """Run a step: a coroutine function on the loop, anything else in a thread (boto3
        blocks; the broker reports to the loop, which must stay free meanwhile). What the
        thread returns, if awaitable (a lambda around a coroutine call), is awaited here."""
        if inspect.iscoroutinefunction(action):
            return await action()
        result = await asyncio.to_thread(action)
        if inspect.isawaitable(result):
            return await typing.cast(Awaitable[Any], result)
        return result

    async def settle(self, *, within: float = SETTLE_WITHIN) -> None:
        """Wait until no event came for ``QUIET_SECONDS`` and the engine caught up."""
        deadline = time.monotonic() + within
        while True:
            quiet_for = time.monotonic() - self.recorder.last_at
            if quiet_for >= QUIET_SECONDS:
                behind = await asyncio.to_thread(self._behind, self.engine.snapshot())
                if not behind and time.monotonic() - self.recorder.last_at >= QUIET_SECONDS:
                    return
            else:
                behind = []
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the engine did not settle within {within} s: {behind or 'events kept coming'}"
                )
            await asyncio.sleep(max(POLL_SECONDS, QUIET_SECONDS - quiet_for))

    def _behind(self, snapshot: Mapping[str, Any]) -> list[str]:
        """Where the engine's picture (``snapshot``) is not (yet) the broker's."""
        lines = []
        observer = self.engine.observer
        if observer is not None and (observer._pending or observer._buffer):
            # Resource changes wait for a topology read, which may take longer than the
            # quiet period on a loaded machine: the action is not over yet.
            lines.append("resource changes still wait for a topology read")
        for queue in snapshot["topology"]["queues"]:
            arn = queue["arn"]
            truth = queue_depth(arn)
            shown = snapshot["depths"].get(arn)
            if truth is not None and shown != asdict(truth):
                lines.append(f"depth of {arn}: engine {shown}, broker {truth}")
        listed = self._listed()
        for kind, arns in listed.items():
            known = {r["arn"] for r in snapshot["topology"][kind]}
            if known != arns:
                lines.append(f"{kind}: engine {sorted(known)}, broker {sorted(arns)}")
        return lines

    def _listed(self) -> dict[str, set[str]]:
        topics = {t["TopicArn"] for t in self.sns.list_topics()["Topics"]}
        urls = self.sqs.list_queues().get("QueueUrls", [])
        queues = {
            self.sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            for u in urls
        }
        subs = {s["SubscriptionArn"] for s in self.sns.list_subscriptions()["Subscriptions"]}
        apps = [a["PlatformApplicationArn"] for a in self.sns.list_platform_applications()[
            "PlatformApplications"]]  # fmt: skip
        endpoints = {
            e["EndpointArn"]
            for app in apps
            for e in self.sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)[
                "Endpoints"
            ]
        }
        return {
            "topics": topics, "queues": queues, "subscriptions": subs,
            "applications": set(apps), "endpoints": endpoints,
        }  # fmt: skip

    async def verify(
        self,
        action: Action,
        *,
        emits: set[str] | frozenset[str] = frozenset(),
        until: Until | None = None,
        state_change_expected: bool = True,
        within: float = SETTLE_WITHIN,
    ) -> Verified:
        """Snapshot, act, capture, apply, compare (see the module docstring).

        ``emits``: event types the action must have emitted. ``until``: what must have
        been emitted before quiet counts (for consequences a timer brings, such as a
        lapse or an expiry). ``state_change_expected=False``: the action must emit
        nothing at all.
        """
        await self.settle()
        old = self.engine.snapshot()
        await self.run(action)
        if until is not None:
            deadline = time.monotonic() + within
            while not until(self._so_far(old)):
                if time.monotonic() > deadline:
                    got = self._so_far(old).kinds()
                    raise AssertionError(f"timed out waiting for the action's events; got {got}")
                await asyncio.sleep(POLL_SECONDS)
        await self.settle(within=within)
        fresh = self.engine.snapshot()
        captured = self.recorder.between(old["last_seq"], fresh["last_seq"])
        events = [e.to_dict() for e in captured]
        for event in events:
            event_check(event)
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(old["last_seq"] + 1, fresh["last_seq"] + 1)), (
            f"events {seqs} are not exactly those after the old snapshot's last_seq "
            f"{old['last_seq']} up to the fresh one's {fresh['last_seq']}"
        )
        if not state_change_expected:
            assert not events, f"expected no events, got {[e['type'] for e in events]}"
        else:
            assert events, "the action emitted no event (pass state_change_expected=False)"
        missing = set(emits) - {e["type"] for e in events}
        assert not missing, f"no {sorted(missing)} among the events {[e['type'] for e in events]}"
        hybrid = snapshot_apply(old, events, refetched=fresh)
        if events:
            assert hybrid["last_seq"] == fresh["last_seq"] == events[-1]["seq"]
        _agree(hybrid, fresh, events, "applying the events to the old snapshot")
        resyncs = [r for r in self.recorder.resyncs if old["last_seq"] < r["last_seq"]]
        resynced = snapshot_resync_apply(old, events, resyncs=resyncs)
        _agree(resynced, fresh, events, "re-reading the snapshot on each resource_changed")
        return Verified(events=events, old=old, fresh=fresh, hybrid=hybrid)

    def _so_far(self, old: Mapping[str, Any]) -> Verified:
        events = [e.to_dict() for e in self.recorder.between(old["last_seq"])]
        return Verified(events=events, old=dict(old), fresh={}, hybrid={})


def _agree(
    state: Mapping[str, Any], fresh: Mapping[str, Any], events: list[dict[str, Any]], how: str
) -> None:
    differences = snapshot_differences(state, fresh)
    assert not differences, (
        f"{how} does not give the fresh snapshot:\n  "
        + "\n  ".join(differences)
        + "\nevents:\n  "
        + "\n  ".join(_brief(e) for e in events)
    )


def _brief(event: Mapping[str, Any]) -> str:
    """An event for a failure message: ids and types, never a body."""
    keep = ("seq", "type", "kind", "action", "arn", "queue_arn", "topic_arn", "worker",
            "message_id", "visible", "in_flight", "delayed", "source", "code",
            "resource")  # fmt: skip
    return " ".join(f"{k}={event[k]}" for k in keep if k in event and event[k] is not None)
