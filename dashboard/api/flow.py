"""The flow as a whole: the topology, one message's trace, and the simulated workers."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from messaging import resources
from messaging.errors import ResourceNotFound
from messaging.topology import topology_get
from messaging.workers import WorkerSpec

from .. import permissions, selectors, services
from ..backend import connection
from .errors import ERRORS
from .schemas import QueueOut, SubscriptionOut, TopicOut

router = Router()


class TopologyOut(Schema):
    topics: list[TopicOut]
    queues: list[QueueOut]
    subscriptions: list[SubscriptionOut]


class TraceOut(Schema):
    trace_id: str
    events: list[dict[str, Any]]


class WorkerSpecIn(Schema):
    count: int = 1
    min_ms: int = 500
    max_ms: int = 500
    failure_rate: float = 0.0
    poison_marker: str = "poison"
    batch_size: int = 10


class WorkerSettingOut(WorkerSpecIn):
    queue_arn: str


@router.get("/topology", response={200: TopologyOut, **ERRORS}, tags=["topology"])
def topology(request: HttpRequest) -> Any:
    return asdict(topology_get(connection()))


@router.get("/traces/{trace_id}", response={200: TraceOut, **ERRORS}, tags=["traces"])
def trace_get(request: HttpRequest, trace_id: str) -> Any:
    """A message's journey: published, delivered or filtered per subscription,
    received (by which worker, how often), processed, failed or dead-lettered."""
    events = selectors.trace_get(trace_id=trace_id)
    if not events:
        raise ResourceNotFound(f"No flow events for trace {trace_id!r}.", field="trace_id")
    return {"trace_id": trace_id, "events": events}


@router.put("/queues/{arn}/workers", response={200: WorkerSettingOut, **ERRORS}, tags=["workers"])
def workers_set(request: HttpRequest, arn: str, payload: WorkerSpecIn) -> Any:
    """Run ``count`` simulated workers on the queue (0 stops them)."""
    permissions.staff_check(request.user)
    resources.queue_url(connection(), arn=arn)  # 404 for a queue that does not exist
    return services.worker_settings_set(queue_arn=arn, spec=WorkerSpec(**payload.dict()))
