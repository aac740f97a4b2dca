"""Mobile push in class: the students' phones are the devices.

A scenario with a ``push`` section (``scenarios/push-step-by-step.json``) names the
class topic and the platform applications the phones belong to::

    "push": {"topic": "news",
             "applications": [{"name": "phones-android", "platform": "GCM"},
                              {"name": "phones-ios", "platform": "APNS"}]}

Each joining phone generates a push token, registers it (``device_register``) as a
platform endpoint of the application for its platform, and is subscribed to the class
topic, as the course's steps say; ``CustomUserData`` names the participant. The
applications are created on first need (idempotent: SNS returns the same ARN), so a
class works whether the instructor pressed "create the applications" or a phone
joined first. A participant switches their device off and on (``device_enable``:
the endpoint's ``Enabled``); the instructor publishes one notification per platform
(``class_publish``). The phone's endpoint ARN is kept in the phone's own Django
session: nothing new in the database, and a phone can only ever change its own device.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from messaging import push
from messaging.errors import FlowdashError, InvalidInput, ResourceNotFound
from messaging.resources import arn_name, topic_arns
from messaging.subscriptions import subscription_create

from ..backend import connection
from .errors import ClassroomError
from .jsonread import DefinitionError
from .models import ClassSession, Participant
from .push_definition import PLATFORMS, push_section_parse
from .scenario_types import scenario_prefix

#: Where a phone's device lives in its Django session.
DEVICE_SESSION_KEY = "classroom_push_device"
NO_PUSH = (
    "This class's scenario has no mobile push: the instructor loads 'Mobile push step by step'."
)
NO_DEVICE = "This phone has not registered as a device yet."
TITLE_MAX = 60
BODY_MAX = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassPush:
    """A class's push setup, with full names."""

    topic: str  #: the class topic's full name
    applications: dict[str, str]  #: platform -> application full name
    prefix: str


def class_push(class_session: ClassSession) -> ClassPush:
    scenario = class_session.scenario
    section = push_section_parse((scenario.definition or {}).get("push")) if scenario else None
    if scenario is None or section is None:
        raise ClassroomError(NO_PUSH, code="NoPush")
    prefix = connection().prefix + scenario_prefix(scenario.slug)
    return ClassPush(
        topic=prefix + section.topic,
        applications={p: prefix + name for p, name in section.applications.items()},
        prefix=prefix,
    )


def push_available(class_session: ClassSession) -> bool:
    """Whether the class's scenario makes the phones devices."""
    try:
        class_push(class_session)
    except (ClassroomError, DefinitionError):
        return False
    return True


def topic_arn(setup: ClassPush) -> str:
    """The class topic's ARN, once the scenario is loaded (one ListTopics)."""
    found = [a for a in topic_arns(connection()) if arn_name(a) == setup.topic]
    if not found:
        raise ClassroomError(
            "The class topic does not exist yet: the instructor loads the scenario first.",
            code="NotReady",
        )
    return found[0]


def applications_ensure(class_session: ClassSession) -> dict[str, str]:
    """Create the class's platform applications (idempotent); platform -> ARN."""
    setup = class_push(class_session)
    conn = connection()
    return {
        platform: push.platform_application_create(conn, name=name, platform=platform)
        for platform, name in setup.applications.items()
    }


def device_register(
    *, participant: Participant, session: Any, token: str, platform: str
) -> dict[str, Any]:
    """Register this phone's token as a device of the class's application for its
    platform and subscribe it to the class topic. All or nothing: a device whose
    subscription fails is deleted again. A phone registering again replaces its device."""
    if platform not in PLATFORMS:
        raise InvalidInput(
            f"Unknown platform {platform[:20]!r}: choose {' or '.join(PLATFORMS)}.",
            field="platform",
        )
    setup = class_push(participant.class_session)
    conn = connection()
    topic = topic_arn(setup)
    apps = applications_ensure(participant.class_session)
    old = session.get(DEVICE_SESSION_KEY)
    endpoint = push.platform_endpoint_create(
        conn, application_arn=apps[platform], token=token,
        custom_user_data=f"{participant.display_name} (#{participant.pk})",
    )  # fmt: skip
    try:
        sub = subscription_create(conn, topic_arn=topic, protocol="application", endpoint=endpoint)
    except FlowdashError:
        push.platform_endpoint_delete(conn, arn=endpoint)
        raise
    if old and old.get("endpoint_arn") != endpoint:
        with contextlib.suppress(FlowdashError):  # already gone (a reset): nothing to tidy
            push.platform_endpoint_delete(conn, arn=old["endpoint_arn"])
    device = {
        "endpoint_arn": endpoint, "subscription_arn": sub.arn, "platform": platform,
        "enabled": True,
    }  # fmt: skip
    session[DEVICE_SESSION_KEY] = device
    return device


def device_get(session: Any) -> dict[str, Any] | None:
    device = session.get(DEVICE_SESSION_KEY)
    return dict(device) if device else None


def device_enable(*, session: Any, enabled: bool) -> dict[str, Any]:
    """Switch this phone's device on or off (the endpoint's ``Enabled``)."""
    device = session.get(DEVICE_SESSION_KEY)
    if not device:
        raise ClassroomError(NO_DEVICE, code="NoDevice")
    try:
        updated = push.platform_endpoint_update(
            connection(), arn=device["endpoint_arn"], enabled=enabled
        )
    except ResourceNotFound:
        session.pop(DEVICE_SESSION_KEY, None)
        raise ClassroomError(
            "This phone's device is gone (the class was reset): register again.", code="NoDevice"
        ) from None
    device = {**device, "enabled": updated.enabled}
    session[DEVICE_SESSION_KEY] = device
    return device


def class_publish(*, class_session: ClassSession, title: str, body: str) -> str:
    """The instructor's notification to every phone: one payload per platform (FCM's
    notification, APNs' alert) and the same text as ``default``."""
    title, body = " ".join(title.split()), body.strip()
    if not body:
        raise InvalidInput("Write the notification's text.", field="body")
    if len(title) > TITLE_MAX or len(body) > BODY_MAX:
        raise InvalidInput(
            f"A notification's title is at most {TITLE_MAX} characters and its text {BODY_MAX}.",
            field="body",
        )
    arn = topic_arn(class_push(class_session))
    message = {
        "default": f"{title}: {body}" if title else body,
        "GCM": json.dumps({"notification": {"title": title, "body": body}}),
        "APNS": json.dumps({"aps": {"alert": {"title": title, "body": body}}}),
    }
    return push.topic_push_publish(connection(), topic_arn=arn, message=message)


def notification_text(platform: str, payload: str) -> tuple[str, str]:
    """(title, text) a phone shows for a payload it received: the platform's fields
    when the payload is the platform's JSON, else the text as it came."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return "", payload
    if not isinstance(data, dict):
        return "", payload
    if platform == "APNS":
        alert = (data.get("aps") or {}).get("alert") if isinstance(data.get("aps"), dict) else None
        if isinstance(alert, dict):
            return str(alert.get("title", "")), str(alert.get("body", ""))
        if isinstance(alert, str):
            return "", alert
    note = data.get("notification")
    if isinstance(note, dict):
        return str(note.get("title", "")), str(note.get("body", ""))
    return "", payload


def class_push_view(*, class_session: ClassSession) -> dict[str, Any]:
    """What the presenter's push panel shows: the topic and applications (``available``
    False when the class's scenario has no push: the panel stays hidden)."""
    if not push_available(class_session):
        return {"available": False}
    setup = class_push(class_session)
    return {
        "available": True, "topic": setup.topic, "applications": setup.applications,
        "prefix": setup.prefix,
    }  # fmt: skip
