"""The flow bus's frames and storage: coalescing under load, batched writes, retention."""

from __future__ import annotations

import pytest

from dashboard.flowbus import (
    MAX_FRAME_EVENTS,
    SAMPLE_TRACES,
    events_prune,
    events_store,
    frame_build,
)
from dashboard.models import FlowEventRecord
from messaging.events import Delivered, Depth, FlowEmitter, Processed, Published

Q = "arn:aws:sqs:us-east-1:123456789012:q"
T = "arn:aws:sns:us-east-1:123456789012:t"


def burst(emitter: FlowEmitter, messages: int) -> list:
    events = []
    for n in range(messages):
        trace = f"m{n}"
        events.append(emitter.emit(Published, trace_id=trace, topic_arn=T, body="x"))
        events.append(emitter.emit(
            Delivered, trace_id=trace, topic_arn=T, subscription_arn="s", protocol="sqs", endpoint=Q
        ))  # fmt: skip
        events.append(emitter.emit(Depth, queue_arn=Q, visible=n, in_flight=0, delayed=0))
        events.append(emitter.emit(
            Processed, trace_id=trace, queue_arn=Q, worker="w", message_id=trace, duration_ms=1
        ))  # fmt: skip
    return events


def test_a_quiet_frame_carries_every_event() -> None:
    events = burst(FlowEmitter(), 10)
    frame = frame_build(events)
    assert not frame["sampled"]
    assert [e["seq"] for e in frame["events"]] == list(range(1, 41))
    assert (frame["from_seq"], frame["to_seq"]) == (1, 40)


def test_a_busy_frame_counts_everything_and_samples_whole_journeys() -> None:
    events = burst(FlowEmitter(), 500)  # 2,000 events in one interval
    frame = frame_build(events)
    assert frame["sampled"] and (frame["from_seq"], frame["to_seq"]) == (1, 2000)
    assert frame["counts"] == {
        f"published|{T}": 500,
        f"delivered|{Q}": 500,
        f"depth|{Q}": 500,
        f"processed|{Q}": 500,
    }
    traces = {e["trace_id"] for e in frame["events"] if "trace_id" in e}
    assert len(traces) == SAMPLE_TRACES
    for trace in traces:  # whole journeys, not fragments
        kinds = [e["type"] for e in frame["events"] if e.get("trace_id") == trace]
        assert kinds == ["published", "delivered", "processed"]
    depths = [e for e in frame["events"] if e["type"] == "depth"]
    assert [d["visible"] for d in depths] == [499]  # only the newest depth per queue
    assert len(frame["events"]) < MAX_FRAME_EVENTS


@pytest.mark.django_db
def test_events_are_stored_in_one_batch_and_pruned_to_the_retention(settings) -> None:
    settings.FLOWDASH_EVENT_RETENTION = 100
    events_store(burst(FlowEmitter(), 100))
    assert FlowEventRecord.objects.count() == 400
    assert events_prune() == 300
    assert list(FlowEventRecord.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(301, 401)
    )
