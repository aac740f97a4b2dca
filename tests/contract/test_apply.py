"""The viewer model (``apply``) and the event schema check, on hand-made events."""

from __future__ import annotations

from typing import Any

import pytest

from messaging.events import Depth, FlowEmitter, Received

from .apply import (
    RefetchMissing,
    snapshot_apply,
    snapshot_differences,
    snapshot_resync_apply,
    topology_differences,
)
from .verify import event_check

Q = "arn:aws:sqs:us-east-1:123456789012:jobs"
Q2 = "arn:aws:sqs:us-east-1:123456789012:other"


def queue(arn: str, *, visible: int = 0, **attributes: str) -> dict[str, Any]:
    return {
        "url": f"http://moto/{arn.rsplit(':', 1)[-1]}", "arn": arn,
        "name": arn.rsplit(":", 1)[-1], "fifo": False,
        "depth": {"visible": visible, "in_flight": 0, "delayed": 0},
        "content_based_deduplication": False, "dead_letter_arn": None,
        "max_receive_count": None,
        "attributes": {"ApproximateNumberOfMessages": str(visible), **attributes},
    }  # fmt: skip


def snapshot(*, last_seq: int = 10, queues: tuple[str, ...] = (Q,), **parts: Any) -> dict[str, Any]:
    return {
        "last_seq": last_seq,
        "topology": {"topics": [], "queues": [queue(a) for a in queues], "subscriptions": []},
        "depths": {a: {"visible": 0, "in_flight": 0, "delayed": 0} for a in queues},
        "workers": [],
        "worker_specs": {},
        **parts,
    }


def depth(seq: int, arn: str = Q, visible: int = 0, in_flight: int = 0) -> dict[str, Any]:
    return {"seq": seq, "ts": 0.0, "type": "depth", "queue_arn": arn, "visible": visible,
            "in_flight": in_flight, "delayed": 0}  # fmt: skip


def worker_event(seq: int, kind: str, worker: str, arn: str = Q) -> dict[str, Any]:
    return {"seq": seq, "ts": 0.0, "type": kind, "queue_arn": arn, "worker": worker}


def changed(
    seq: int, kind: str = "queue", action: str = "created", arn: str = Q2
) -> dict[str, Any]:
    return {"seq": seq, "ts": 0.0, "type": "resource_changed", "kind": kind, "action": action,
            "arn": arn}  # fmt: skip


def test_depth_replaces_the_counters_and_moves_last_seq() -> None:
    state = snapshot_apply(
        snapshot(), [depth(11, visible=3), depth(12, in_flight=1)], refetched=None
    )
    assert state["depths"][Q] == {"visible": 0, "in_flight": 1, "delayed": 0}
    assert state["last_seq"] == 12


def test_worker_events_create_an_unknown_consumer_and_count() -> None:
    name = "Boto3/1.44.8 on jobs"
    events = [
        worker_event(11, "received", name),
        worker_event(12, "processed", name),
        worker_event(13, "received", name),
        worker_event(14, "failed", name),
    ]
    old = snapshot()
    state = snapshot_apply(old, events, refetched=None)
    assert state["workers"] == [
        {"name": name, "queue_arn": Q, "busy": False, "processed": 1, "failed": 1}
    ]
    assert old["workers"] == []  # the old snapshot is left alone


def test_message_events_change_nothing() -> None:
    old = snapshot()
    journey = [
        {"seq": 11, "ts": 0.0, "type": t, "queue_arn": Q, "trace_id": "m"}
        for t in ("published", "visibility_lapsed", "expired", "dead_lettered", "deduplicated")
    ]
    assert snapshot_differences(snapshot_apply(old, journey, refetched=None), old) == []


def test_a_resource_change_needs_the_re_read_snapshot() -> None:
    with pytest.raises(RefetchMissing):
        snapshot_apply(snapshot(), [changed(11)], refetched=None)


def test_a_re_read_brings_topology_membership_and_specs_not_counts() -> None:
    old = snapshot(workers=[{"name": "gone", "queue_arn": Q, "busy": False, "processed": 4,
                             "failed": 0}])  # fmt: skip
    fresh = snapshot(
        last_seq=12,
        queues=(Q2,),
        workers=[{"name": "new#1", "queue_arn": Q2, "busy": True, "processed": 7, "failed": 0}],
        worker_specs={Q2: {"count": 1}},
    )
    state = snapshot_apply(old, [changed(11), depth(12, Q2, visible=2)], refetched=fresh)
    assert state["topology"] == fresh["topology"] and state["worker_specs"] == fresh["worker_specs"]
    assert list(state["depths"]) == [Q2]  # the deleted queue's bar went
    # A worker the re-read brings starts at zero: its numbers are the events' to move.
    assert [(w["name"], w["processed"]) for w in state["workers"]] == [("new#1", 0)]
    assert snapshot_differences(state, fresh) == [
        "depth of arn:aws:sqs:us-east-1:123456789012:other: events say "
        "{'visible': 2, 'in_flight': 0, 'delayed': 0}, snapshot says "
        "{'visible': 0, 'in_flight': 0, 'delayed': 0}",
        "workers: events say [('new#1', 'arn:aws:sqs:us-east-1:123456789012:other', 0, 0)], "
        "snapshot says [('new#1', 'arn:aws:sqs:us-east-1:123456789012:other', 7, 0)]",
    ]


def test_a_resync_replaces_the_state_and_skips_what_the_answer_includes() -> None:
    old = snapshot()
    answer = snapshot(last_seq=12, queues=(Q, Q2))
    events = [changed(11), depth(12, Q2, visible=5), depth(13, Q2, visible=1)]
    state = snapshot_resync_apply(old, events, resyncs=[answer])
    assert state["last_seq"] == 13
    assert state["depths"][Q2] == {"visible": 1, "in_flight": 0, "delayed": 0}
    assert [q["arn"] for q in state["topology"]["queues"]] == [Q, Q2]
    with pytest.raises(RefetchMissing):
        snapshot_resync_apply(old, events, resyncs=[])


def test_topology_differences_ignore_derived_counters() -> None:
    old = snapshot()["topology"]
    busier = {**old, "queues": [queue(Q, visible=9)]}
    assert topology_differences(old, busier) == set()
    tuned = {**old, "queues": [queue(Q, VisibilityTimeout="45")]}
    assert topology_differences(old, tuned) == {("queue", Q)}


def test_event_check_takes_a_real_event_and_rejects_a_wrong_one() -> None:
    emitter = FlowEmitter()
    received = emitter.emit(
        Received, trace_id="t", queue_arn=Q, worker="w", message_id="m", receive_count=1
    ).to_dict()
    event_check(received)
    event_check(emitter.emit(Depth, queue_arn=Q, visible=1, in_flight=0, delayed=0).to_dict())
    with pytest.raises(AssertionError, match="declares"):
        event_check({**received, "extra": 1})
    with pytest.raises(AssertionError, match="receive_count"):
        event_check({**received, "receive_count": "1"})
    with pytest.raises(AssertionError, match="unknown event type"):
        event_check({**received, "type": "teleported"})
