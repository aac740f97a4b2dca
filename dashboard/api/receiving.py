"""Taking messages out as a consumer does: receive, then delete or release. Staff only:
a receive hides the messages from the workers and raises their receive count."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from messaging import receiving, resources

from .. import permissions
from ..backend import connection
from .errors import ERRORS
from .schemas import AttributeIn, EnvelopeOut

router = Router(tags=["messages"])


class ReceiveIn(Schema):
    max_messages: int = 10
    visibility_timeout: int | None = 30
    wait_seconds: int = Field(0, ge=0, le=20)


class ReceivedOut(Schema):
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_timestamp: int | None
    message_group_id: str | None
    message_attributes: list[AttributeIn]
    envelope: EnvelopeOut | None


class ReceiptIn(Schema):
    receipt_handle: str


@router.post("/queues/{arn}/receive", response={200: list[ReceivedOut], **ERRORS})
def queue_receive(request: HttpRequest, arn: str, payload: ReceiveIn) -> Any:
    """A real ReceiveMessage: the messages are hidden for ``visibility_timeout`` seconds
    and their receive count rises. Delete them, or return them with ``release``."""
    permissions.staff_check(request.user)
    conn = connection()
    return receiving.queue_receive(
        conn, queue_url=resources.queue_url(conn, arn=arn), **payload.dict()
    )


@router.post("/queues/{arn}/messages/delete", response={204: None, **ERRORS})
def message_delete(request: HttpRequest, arn: str, payload: ReceiptIn) -> Any:
    permissions.staff_check(request.user)
    conn = connection()
    receiving.message_delete(
        conn, queue_url=resources.queue_url(conn, arn=arn), receipt_handle=payload.receipt_handle
    )
    return Status(204, None)


@router.post("/queues/{arn}/messages/release", response={204: None, **ERRORS})
def message_release(request: HttpRequest, arn: str, payload: ReceiptIn) -> Any:
    permissions.staff_check(request.user)
    conn = connection()
    receiving.message_release(
        conn, queue_url=resources.queue_url(conn, arn=arn), receipt_handle=payload.receipt_handle
    )
    return Status(204, None)
