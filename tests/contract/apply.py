"""Bring an engine snapshot forward by flow events, as a client does (docs/protocol.md).

The contract tests' model of a viewer: pure functions from (snapshot, events) to the
state the viewer then holds, written from the protocol's client rules and
``static/js/state.js``, not from the engine's code, so that a disagreement between
the two shows up as a test failure:

- ``depth`` replaces the queue's three counters;
- ``received``/``processed``/``failed`` move the named worker's numbers (``busy``, the
  processed and failed counts), creating the worker when the viewer has not seen it
  yet (outside consumers are named ``<client> on <queue>``);
- ``resource_changed`` is an instruction to re-read (rule 4);
- every other event (the message journey: ``published``, ``delivered``, ``filtered``,
  ``visibility_lapsed``, ``visibility_changed``, ``deduplicated``, ``expired``,
  ``dead_lettered``; and ``error``) changes nothing a snapshot carries; what it does
  to a queue arrives as the ``depth`` events that follow it.

Two models of the re-read, both of which must end at a fresh snapshot:

- ``snapshot_apply`` (Zulip's "hybrid"): what only a re-read can tell is taken from
  the fresh snapshot, after the events: the topology, the worker specs, which
  workers exist (one the re-read brings starts at zero: its numbers come from
  events) and which queues have a depth at all (a deleted queue's bar goes).
  Counters still come from the events, so one the events got wrong is caught even
  when a ``resource_changed`` came along.
- ``snapshot_resync_apply``: what a browser does, at the worst moment. The viewer
  replaces its whole state with the snapshot the server would have sent right
  after the ``resource_changed`` and applies only the later events. This catches
  what the server changes after announcing a change and never announces again.

This lives with the tests, not in ``messaging/``: the server never brings a snapshot
forward (it builds a fresh one for every viewer, ``FlowEngine.snapshot``), so in the
product it would be code only tests call.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Snapshot = dict[str, Any]
Event = Mapping[str, Any]

#: Event types that make a viewer re-read the snapshot.
REFETCH_TYPES = frozenset({"resource_changed"})
#: Event types that move a worker's numbers.
WORKER_TYPES = frozenset({"received", "processed", "failed"})

#: Topology fields that are counters derived from other state, not part of a resource's
#: own definition: a queue's depth (``depths`` carries it live, moved by ``depth``
#: events) and a topic's subscription counts (they follow ``subscriptions``).
QUEUE_DERIVED = ("depth",)
QUEUE_DERIVED_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
TOPIC_DERIVED_ATTRIBUTES = (
    "SubscriptionsConfirmed",
    "SubscriptionsPending",
    "SubscriptionsDeleted",
)

#: The topology's lists, by the ``kind`` a ``resource_changed`` names.
TOPOLOGY_KINDS = {
    "topic": "topics", "queue": "queues", "subscription": "subscriptions",
    "application": "applications", "endpoint": "endpoints",
}  # fmt: skip


class RefetchMissing(ValueError):
    """A ``resource_changed`` was applied without the snapshot a viewer would re-read."""


def snapshot_apply(
    snapshot: Mapping[str, Any], events: Sequence[Event], *, refetched: Mapping[str, Any] | None
) -> Snapshot:
    """The state a viewer holds after applying ``events`` (dicts, in ``seq`` order) to
    ``snapshot``; ``refetched`` is the snapshot it gets when an event makes it re-read.
    Neither argument is changed."""
    state: Snapshot = copy.deepcopy(dict(snapshot))
    refetch = False
    for event in events:
        refetch = _event_apply(state, event) or refetch
    if refetch:
        if refetched is None:
            raise RefetchMissing("a resource_changed event needs the re-read snapshot")
        _refetch_apply(state, refetched)
    return state


def snapshot_resync_apply(
    snapshot: Mapping[str, Any], events: Sequence[Event], *, resyncs: Sequence[Mapping[str, Any]]
) -> Snapshot:
    """The state of a viewer that re-reads as soon as a ``resource_changed`` arrives.

    ``resyncs`` are the snapshots the server would have answered with: each taken at the
    first moment after such an event, so its ``last_seq`` may already be past it. As the
    protocol's rules 2 and 4 say, the viewer replaces its whole state with the answer and
    applies only the events after its ``last_seq``. No partial re-read here: what the
    snapshot leaves out at that moment, and no later event announces, it never learns.
    """
    state: Snapshot = copy.deepcopy(dict(snapshot))
    answers = sorted(resyncs, key=lambda r: r["last_seq"])
    for event in events:
        if event["seq"] <= state["last_seq"]:
            continue  # the answer already includes it
        if _event_apply(state, event):
            answer = next((r for r in answers if r["last_seq"] >= event["seq"]), None)
            if answer is None:
                raise RefetchMissing(f"no snapshot taken after resource_changed {event['seq']}")
            state = copy.deepcopy(dict(answer))
    return state


def _event_apply(state: Snapshot, event: Event) -> bool:
    """Apply one event in place; returns whether it asks the viewer to re-read."""
    kind = event["type"]
    state["last_seq"] = event["seq"]
    if kind == "depth":
        state["depths"][event["queue_arn"]] = {
            "visible": event["visible"],
            "in_flight": event["in_flight"],
            "delayed": event["delayed"],
        }
    elif kind in WORKER_TYPES:
        workers = state["workers"]
        worker = next((w for w in workers if w["name"] == event["worker"]), None)
        if worker is None:
            worker = _worker_new(event["worker"], event["queue_arn"])
            workers.append(worker)
        if kind == "received":
            worker["busy"] = True
        else:
            worker[kind] += 1
            worker["busy"] = False
    return kind in REFETCH_TYPES


def _worker_new(name: str, queue_arn: str) -> dict[str, Any]:
    return {"name": name, "queue_arn": queue_arn, "busy": False, "processed": 0, "failed": 0}


def _refetch_apply(state: Snapshot, refetched: Mapping[str, Any]) -> None:
    state["topology"] = copy.deepcopy(refetched["topology"])
    state["worker_specs"] = copy.deepcopy(refetched["worker_specs"])
    queues = {q["arn"] for q in refetched["topology"]["queues"]}
    state["depths"] = {arn: d for arn, d in state["depths"].items() if arn in queues}
    present = {w["name"]: w for w in refetched["workers"]}
    workers = [w for w in state["workers"] if w["name"] in present]
    known = {w["name"] for w in workers}
    workers += [_worker_new(n, w["queue_arn"]) for n, w in present.items() if n not in known]
    state["workers"] = workers


def snapshot_comparable(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """What hybrid and fresh snapshots must agree on: topology (its derived counters
    aside), depths, worker specs and each worker's name, queue and counts. ``busy`` is
    left out: it is a moment's state, and ``last_seq`` is checked on its own."""
    return {
        "topology": snapshot["topology"],
        "depths": snapshot["depths"],
        "workers": sorted(
            (w["name"], w["queue_arn"], w["processed"], w["failed"]) for w in snapshot["workers"]
        ),
        "worker_specs": snapshot["worker_specs"],
    }


def snapshot_differences(hybrid: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    """Readable lines naming where two snapshots disagree (empty when they agree)."""
    a, b = snapshot_comparable(hybrid), snapshot_comparable(fresh)
    lines: list[str] = []
    for arn in sorted(set(a["depths"]) | set(b["depths"])):
        ours, theirs = a["depths"].get(arn), b["depths"].get(arn)
        if ours != theirs:
            lines.append(f"depth of {arn}: events say {ours}, snapshot says {theirs}")
    if a["workers"] != b["workers"]:
        lines.append(f"workers: events say {a['workers']}, snapshot says {b['workers']}")
    if a["worker_specs"] != b["worker_specs"]:
        lines.append(
            f"worker specs: events say {a['worker_specs']}, snapshot says {b['worker_specs']}"
        )
    ours_arns = {r["arn"] for key in TOPOLOGY_KINDS.values() for r in a["topology"].get(key, [])}
    theirs_arns = {r["arn"] for key in TOPOLOGY_KINDS.values() for r in b["topology"].get(key, [])}
    for kind, arn in sorted(topology_differences(a["topology"], b["topology"])):
        how = (
            "differs" if arn in ours_arns and arn in theirs_arns
            else "only in the snapshot" if arn in theirs_arns
            else "only in what the events say"
        )  # fmt: skip
        lines.append(f"topology: {kind} {arn} {how}")
    return lines


def topology_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The resources, as ``(kind, arn)``, that two topologies do not have alike: added,
    removed or changed, derived counters aside."""
    changed: set[tuple[str, str]] = set()
    for kind, key in TOPOLOGY_KINDS.items():
        before = {r["arn"]: _definition(kind, r) for r in old.get(key, [])}
        after = {r["arn"]: _definition(kind, r) for r in new.get(key, [])}
        changed.update(
            (kind, arn) for arn in set(before) | set(after) if before.get(arn) != after.get(arn)
        )
    return changed


def _definition(kind: str, resource: Mapping[str, Any]) -> Mapping[str, Any]:
    """A resource without the counters it only reflects (see ``QUEUE_DERIVED``)."""
    if kind == "queue":
        out = {k: v for k, v in resource.items() if k not in QUEUE_DERIVED}
        out["attributes"] = _without(resource.get("attributes", {}), QUEUE_DERIVED_ATTRIBUTES)
        return out
    if kind == "topic":
        return {
            **resource,
            "attributes": _without(resource.get("attributes", {}), TOPIC_DERIVED_ATTRIBUTES),
        }
    return resource


def _without(attributes: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    skip = set(names)
    return {k: v for k, v in attributes.items() if k not in skip}
