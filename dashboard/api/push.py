"""SNS beyond SQS: text messages, mobile push, and the outbox of what SNS sent outside
SQS (recorded, not sent, on the embedded backend)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from messaging import push

from .. import permissions, selectors
from ..backend import connection
from .errors import ERRORS

router = Router(tags=["push"])


class SmsIn(Schema):
    phone_number: str
    body: str


class SentOut(Schema):
    message_id: str


class PlatformApplicationIn(Schema):
    name: str
    platform: str = "GCM"


class PlatformEndpointIn(Schema):
    application_arn: str
    token: str


class PushIn(Schema):
    endpoint_arn: str
    body: str


class ArnOut(Schema):
    arn: str


class OutboxCard(Schema):
    kind: str
    to: str
    trace_id: str
    body: str
    ts: float | None
    source: str


@router.post("/sms", response={200: SentOut, **ERRORS})
def sms_send(request: HttpRequest, payload: SmsIn) -> Any:
    """Text a phone number straight from SNS (recorded, not sent, on the embedded backend)."""
    permissions.staff_check(request.user)
    return {"message_id": push.sms_send(connection(), **payload.dict())}


@router.post("/push/applications", response={201: ArnOut, **ERRORS})
def platform_application_create(request: HttpRequest, payload: PlatformApplicationIn) -> Any:
    permissions.staff_check(request.user)
    return Status(201, {"arn": push.platform_application_create(connection(), **payload.dict())})


@router.post("/push/endpoints", response={201: ArnOut, **ERRORS})
def platform_endpoint_create(request: HttpRequest, payload: PlatformEndpointIn) -> Any:
    permissions.staff_check(request.user)
    return Status(201, {"arn": push.platform_endpoint_create(connection(), **payload.dict())})


@router.post("/push/send", response={200: SentOut, **ERRORS})
def push_send(request: HttpRequest, payload: PushIn) -> Any:
    permissions.staff_check(request.user)
    return {"message_id": push.push_send(connection(), **payload.dict())}


@router.get("/outbox", response={200: list[OutboxCard], **ERRORS})
def outbox(request: HttpRequest) -> Any:
    """What SNS sent outside SQS (SMS, email, HTTP, mobile push), newest first, for cards."""
    return selectors.outbox_recent(embedded_records=push.direct_sends_list(connection()))
