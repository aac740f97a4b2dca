"""SNS beyond SQS: text messages, mobile push, and the outbox of what SNS sent outside
SQS (recorded, not sent, on the embedded backend).

Mobile push follows the course's steps: a platform application, a device endpoint per
push token, endpoints subscribed to a topic (``POST /api/subscriptions`` with protocol
``application``), and a publication with one payload per platform. ARNs of applications
and endpoints contain ``/``, so they travel as ``{path:arn}`` at the end of a path, or in
the body or query. A credential goes to SNS only: no answer carries it.
"""

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
    #: The platform's secret (FCM server key, Apple private key); the embedded backend
    #: lends a stand-in when it is left out. Never answered back.
    credential: str | None = None
    principal: str | None = None


class PlatformApplicationOut(Schema):
    arn: str
    name: str
    platform: str
    enabled: bool


class PlatformEndpointIn(Schema):
    application_arn: str
    token: str
    custom_user_data: str | None = None
    enabled: bool = True


class PlatformEndpointOut(Schema):
    arn: str
    application_arn: str
    platform: str
    token: str
    custom_user_data: str
    enabled: bool


class PlatformEndpointPatch(Schema):
    custom_user_data: str | None = None
    enabled: bool | None = None


class PushIn(Schema):
    endpoint_arn: str
    body: str


class TopicPushIn(Schema):
    topic_arn: str
    #: ``MessageStructure=json``: ``{"default": ..., "GCM": "<json>", "APNS": "<json>"}``,
    #: as an object or as its JSON text.
    message: dict[str, Any] | str
    subject: str | None = None


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


@router.get("/push/applications", response={200: list[PlatformApplicationOut], **ERRORS})
def platform_application_list(request: HttpRequest) -> Any:
    return push.platform_application_list(connection())


@router.get("/push/applications/{path:arn}", response={200: PlatformApplicationOut, **ERRORS})
def platform_application_get(request: HttpRequest, arn: str) -> Any:
    return push.platform_application_get(connection(), arn=arn)


@router.delete("/push/applications/{path:arn}", response={204: None, **ERRORS})
def platform_application_delete(request: HttpRequest, arn: str) -> Any:
    """The application, its devices, and their subscriptions."""
    permissions.staff_check(request.user)
    push.platform_application_delete(connection(), arn=arn)
    return Status(204, None)


@router.post("/push/endpoints", response={201: ArnOut, **ERRORS})
def platform_endpoint_create(request: HttpRequest, payload: PlatformEndpointIn) -> Any:
    permissions.staff_check(request.user)
    return Status(201, {"arn": push.platform_endpoint_create(connection(), **payload.dict())})


@router.get("/push/endpoints", response={200: list[PlatformEndpointOut], **ERRORS})
def platform_endpoint_list(request: HttpRequest, application_arn: str) -> Any:
    return push.platform_endpoint_list(connection(), application_arn=application_arn)


@router.get("/push/endpoints/{path:arn}", response={200: PlatformEndpointOut, **ERRORS})
def platform_endpoint_get(request: HttpRequest, arn: str) -> Any:
    return push.platform_endpoint_get(connection(), arn=arn)


@router.patch("/push/endpoints/{path:arn}", response={200: PlatformEndpointOut, **ERRORS})
def platform_endpoint_update(request: HttpRequest, arn: str, payload: PlatformEndpointPatch) -> Any:
    """Custom user data, and ``enabled``: false switches the device off (SNS delivers
    nothing to it), true on again."""
    permissions.staff_check(request.user)
    return push.platform_endpoint_update(connection(), arn=arn, **payload.dict())


@router.delete("/push/endpoints/{path:arn}", response={204: None, **ERRORS})
def platform_endpoint_delete(request: HttpRequest, arn: str) -> Any:
    permissions.staff_check(request.user)
    push.platform_endpoint_delete(connection(), arn=arn)
    return Status(204, None)


@router.post("/push/send", response={200: SentOut, **ERRORS})
def push_send(request: HttpRequest, payload: PushIn) -> Any:
    permissions.staff_check(request.user)
    return {"message_id": push.push_send(connection(), **payload.dict())}


@router.post("/push/publish", response={200: SentOut, **ERRORS})
def topic_push_publish(request: HttpRequest, payload: TopicPushIn) -> Any:
    """Publish per-platform payloads to a topic: each subscribed, enabled device gets
    its platform's payload, or ``default``."""
    permissions.staff_check(request.user)
    return {"message_id": push.topic_push_publish(connection(), **payload.dict())}


@router.get("/outbox", response={200: list[OutboxCard], **ERRORS})
def outbox(request: HttpRequest) -> Any:
    """What SNS sent outside SQS (SMS, email, HTTP, mobile push), newest first, for cards."""
    return selectors.outbox_recent(embedded_records=push.direct_sends_list(connection()))
