"""SQS queues, addressed by ARN (resolved to the URL SQS needs): list, create, read,
update, delete, purge."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from messaging import resources

from .. import permissions
from ..backend import connection
from .errors import ERRORS
from .schemas import QueueOut

router = Router(tags=["queues"])


class QueueIn(Schema):
    name: str
    fifo: bool = False
    content_based_deduplication: bool = False
    visibility_timeout: int | None = None
    delay_seconds: int | None = None
    retention_seconds: int | None = None
    receive_wait_seconds: int | None = None
    dead_letter_queue_arn: str | None = None
    new_dead_letter_queue: str | None = None
    max_receive_count: int | None = None


class QueueUpdateIn(Schema):
    """The settings a queue page edits; a field left out (or null) stays as it is."""

    visibility_timeout: int | None = Field(None, description="seconds, 0 to 43200")
    delay_seconds: int | None = Field(None, description="seconds, 0 to 900")
    retention_seconds: int | None = Field(None, description="seconds, 60 to 1209600")
    max_receive_count: int | None = Field(
        None, description="1 to 1000; only for a queue with a dead-letter queue"
    )


@router.get("/queues", response={200: list[QueueOut], **ERRORS})
def queue_list(request: HttpRequest) -> Any:
    return resources.queue_list(connection())


@router.post("/queues", response={201: QueueOut, **ERRORS})
def queue_create(request: HttpRequest, payload: QueueIn) -> Any:
    permissions.staff_check(request.user)
    return Status(201, resources.queue_create(connection(), **payload.dict()))


@router.get("/queues/{arn}", response={200: QueueOut, **ERRORS})
def queue_get(request: HttpRequest, arn: str) -> Any:
    conn = connection()
    return resources.queue_get(conn, url=resources.queue_url(conn, arn=arn))


@router.patch("/queues/{arn}", response={200: QueueOut, **ERRORS})
def queue_update(request: HttpRequest, arn: str, payload: QueueUpdateIn) -> Any:
    """Change visibility timeout, delay, retention or maxReceiveCount. Every value is
    checked first and all go to SQS in one call: an error (naming its ``field``)
    changes nothing."""
    permissions.staff_check(request.user)
    conn = connection()
    return resources.queue_update(conn, url=resources.queue_url(conn, arn=arn), **payload.dict())


@router.delete("/queues/{arn}", response={204: None, **ERRORS})
def queue_delete(request: HttpRequest, arn: str) -> Any:
    permissions.staff_check(request.user)
    conn = connection()
    resources.queue_delete(conn, url=resources.queue_url(conn, arn=arn))
    return Status(204, None)


@router.post("/queues/{arn}/purge", response={204: None, **ERRORS})
def queue_purge(request: HttpRequest, arn: str) -> Any:
    permissions.staff_check(request.user)
    conn = connection()
    resources.queue_purge(conn, url=resources.queue_url(conn, arn=arn))
    return Status(204, None)
