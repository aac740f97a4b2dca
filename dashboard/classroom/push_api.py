"""Mobile push in class, mounted beside the classroom API at ``/api/classroom/``.

Participants (their join session, CSRF-checked): ``POST me/device`` registers the
phone's token as a device and subscribes it to the class topic; ``POST
me/device/enabled`` switches it off or on. Staff: ``GET sessions/{code}/push``, ``POST
sessions/{code}/push/setup`` (create the platform applications: a step of the
explanation), ``POST sessions/{code}/push/publish`` (one notification to every phone).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.security.session import SessionAuthIsStaff

from messaging.errors import Throttled

from .. import pushhub
from ..api.errors import ERRORS
from ..ratelimit import Rate, token_take
from . import push_class, selectors
from .api import ParticipantAuth, ParticipantRequest

router = Router(tags=["classroom push"], auth=SessionAuthIsStaff())
me = ParticipantAuth()
#: A phone registers or switches its device now and then: 10 at once, then one every 6 s.
DEVICE_RATE = Rate(capacity=10, per_seconds=60)


class DeviceIn(Schema):
    token: str
    platform: str = "GCM"


class EnabledIn(Schema):
    enabled: bool


class NotifyIn(Schema):
    title: str = ""
    body: str


def _rate_check(participant_id: int) -> None:
    wait = token_take(key=f"classroom-push-device:{participant_id}", rate=DEVICE_RATE)
    if wait:
        raise Throttled(f"Too many device changes; try again in {wait} s.", code="Throttled")


@router.post("/me/device", auth=me, response={200: dict[str, Any], **ERRORS})
def device_register(request: ParticipantRequest, payload: DeviceIn) -> Any:
    """This phone becomes a device of the class's app (its platform's), subscribed to the
    class topic. The token is the one the phone generated."""
    _rate_check(request.auth.pk)
    device = push_class.device_register(
        participant=request.auth, session=request.session, token=payload.token,
        platform=payload.platform,
    )  # fmt: skip
    hub = pushhub.local()
    if hub is not None:
        hub.bind(device["endpoint_arn"], request.auth.pk)
    return device


@router.post("/me/device/enabled", auth=me, response={200: dict[str, Any], **ERRORS})
def device_enable(request: ParticipantRequest, payload: EnabledIn) -> Any:
    _rate_check(request.auth.pk)
    return push_class.device_enable(session=request.session, enabled=payload.enabled)


@router.get("/sessions/{code}/push", response={200: dict[str, Any], **ERRORS})
def class_push_view(request: HttpRequest, code: str) -> Any:
    return push_class.class_push_view(class_session=selectors.class_session_get(code=code))


@router.post("/sessions/{code}/push/setup", response={200: dict[str, Any], **ERRORS})
def class_push_setup(request: HttpRequest, code: str) -> Any:
    """Create the class's platform applications (the step before devices register)."""
    apps = push_class.applications_ensure(selectors.class_session_get(code=code))
    return {"applications": apps}


@router.post("/sessions/{code}/push/publish", response={200: dict[str, Any], **ERRORS})
def class_push_publish(request: HttpRequest, code: str, payload: NotifyIn) -> Any:
    message_id = push_class.class_publish(
        class_session=selectors.class_session_get(code=code), title=payload.title,
        body=payload.body,
    )  # fmt: skip
    return {"message_id": message_id}
