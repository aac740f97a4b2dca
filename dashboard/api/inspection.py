"""Looking into queues without consuming (where the backend allows), dead-letter
queues and their redrive, and what reached Flowdash's own HTTP receiver."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from messaging import inspection, resources
from messaging.resources import Queue

from .. import permissions, selectors, services
from ..backend import connection
from .errors import ERRORS
from .schemas import EnvelopeOut, QueueOut

router = Router(tags=["inspect"])


class InspectedOut(Schema):
    message_id: str
    trace_id: str = Field(
        description="its journey's id (/traces/<id>/): the SNS envelope's MessageId for a "
        "copy delivered by a topic, else the SQS MessageId"
    )
    body: str
    state: str
    receive_count: int
    sent_timestamp: int | None
    visible_at: int | None
    delayed_until: int | None
    group_id: str | None
    deduplication_id: str | None
    attributes: dict[str, dict[str, str]]
    envelope: EnvelopeOut | None


class QueueViewOut(Schema):
    kind: str
    queue_arn: str
    fifo: bool
    now_ms: int
    counts: dict[str, int] = Field(description="the whole queue's messages by state")
    total: int = Field(description="messages in the queue")
    matched: int = Field(description="messages matching the search (all without one)")
    offset: int
    limit: int | None
    query: str
    messages: list[InspectedOut] = Field(description="this page of the matching messages")
    max_receive_count: int | None
    dead_letter_arn: str | None
    lanes: dict[str, list[str]]
    locked_groups: list[str]
    note: str


class RedriveIn(Schema):
    source_arn: str
    limit: int | None = Field(
        None, ge=1, le=10_000, description="at most this many (all when empty)"
    )


class RedriveOut(Schema):
    moved: int
    resent_skipped: int
    remaining: int


class HttpDeliveryOut(Schema):
    id: int
    received_at: datetime
    message_type: str
    message_id: str
    topic_arn: str
    subject: str
    body: str
    confirmed: bool


@router.get("/queues/{arn}/inspect", response={200: QueueViewOut, **ERRORS})
def queue_inspect(
    request: HttpRequest,
    arn: str,
    offset: int = Query(0, ge=0),
    limit: int = Query(inspection.PAGE_SIZE, ge=1, le=inspection.PAGE_SIZE_MAX),
    q: str = Query("", max_length=200, description="search bodies and attributes"),
) -> Any:
    """The queue's messages without receiving them, where the backend allows (``kind``
    says which view this is), a page at a time: ``limit`` from ``offset`` of those whose
    body or attributes contain ``q`` (any case). ``counts`` and ``total`` are the whole
    queue's. On ``receive`` backends the list is empty, see ``note``."""
    return inspection.queue_inspect(
        connection(), queue=_queue(arn), offset=offset, limit=limit, query=q
    )


@router.post("/queues/{arn}/receive-and-return", response={200: QueueViewOut, **ERRORS})
def queue_receive_and_return(request: HttpRequest, arn: str) -> Any:
    """Look by receiving (VisibilityTimeout 0): each message's receive count rises."""
    permissions.staff_check(request.user)
    return inspection.queue_receive_and_return(connection(), queue=_queue(arn))


@router.get("/queues/{arn}/dead-letter-sources", response={200: list[QueueOut], **ERRORS})
def queue_dead_letter_sources(request: HttpRequest, arn: str) -> Any:
    return resources.dead_letter_sources(connection(), queue=_queue(arn))


@router.post("/queues/{arn}/redrive", response={200: RedriveOut, **ERRORS})
def queue_redrive(request: HttpRequest, arn: str, payload: RedriveIn) -> Any:
    """Move messages from this dead-letter queue back to ``source_arn``, each exactly once.
    Call with a small ``limit`` repeatedly to show progress."""
    permissions.staff_check(request.user)
    return services.queue_redrive_step(
        dead_letter_arn=arn, source_arn=payload.source_arn, limit=payload.limit
    )


@router.get("/deliveries", response={200: list[HttpDeliveryOut], **ERRORS})
def http_deliveries(request: HttpRequest, after_id: int = 0) -> Any:
    """What SNS POSTed to Flowdash's own HTTP receiver (``/hooks/sns/``), newest first."""
    return selectors.http_deliveries_list(after_id=after_id)


def _queue(arn: str) -> Queue:
    conn = connection()
    return resources.queue_get(conn, url=resources.queue_url(conn, arn=arn))
