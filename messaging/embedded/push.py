"""Mobile push through a topic, as AWS does it, for the embedded backend.

moto 5.2.5 differs from SNS where the course's central step happens (checked in its
source, ``moto/sns/models.py``; the same gap is known in other emulators):

1. **A topic's ``application`` subscriptions get nothing.** ``Subscription.publish``
   handles ``sqs``, ``http(s)`` and ``lambda`` only: a publication to a topic with
   device endpoints subscribed returns a MessageId, reaches no endpoint and is
   recorded nowhere (``PlatformEndpoint.messages`` holds direct publishes only).
   SNS delivers a copy to every subscribed endpoint that is enabled, and nothing to
   a disabled one (the publisher is not told). Fix: each ``application`` copy goes
   to its endpoint's record (``PlatformEndpoint.messages``, keyed by the
   publication's MessageId, bounded like the fast path's records), unless the
   endpoint is disabled.
2. **The wrong payload for ``MessageStructure=json``.** moto picks the key named
   after the protocol (``"application"``), else ``default``; SNS picks the
   endpoint's platform (``"GCM"``, ``"APNS"``, ...), else ``default``. Fix: the
   platform's payload (``messaging.push.payload_for``, the one rule Flowdash uses).
3. **Custom user data is not an attribute.** moto keeps CreatePlatformEndpoint's
   ``CustomUserData`` beside the endpoint's attributes, so GetEndpointAttributes and
   ListEndpointsByPlatformApplication never show it; SNS does. Fix: it is stored
   among the attributes too (where SetEndpointAttributes already puts it).
4. **Credentials come back.** ``GetPlatformApplicationAttributes`` and
   ``ListPlatformApplications`` answer ``PlatformCredential`` and
   ``PlatformPrincipal`` as they were set; SNS never returns them. Fix: both
   answers leave them out, for every client of the embedded server.

The broker's ``Topic.publish`` hook hands each ``application`` copy to
``application_deliver`` (registered as ``broker.application_delivery``), which returns
a ``PushOutcome`` (filtered or not, delivered or not, and the payload the device got):
the broker reports a ``delivered`` copy per enabled endpoint with what it received,
and nothing for a disabled one. No ``Subscription.publish`` patch: ``filtering`` may
be reverted and applied again (its tests do) without losing this. Applied with the
embedded server, only to the moto versions in ``version``, and reversible for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..push import SECRET_ATTRIBUTES, payload_for
from .filtering import delivery_decide
from .version import moto_supported

_originals: dict[str, Any] = {}

#: Pushes kept per endpoint (as the fast path bounds moto's other per-publish records).
ENDPOINT_RECORD_LIMIT = 1_000


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """One ``application`` copy of a publication: ``matched`` and ``reason`` as the
    filter decided (``FilterResult``'s fields), ``delivered`` False for a disabled
    endpoint, ``body`` what the device received."""

    matched: bool
    reason: str | None = None
    delivered: bool = False
    body: str | None = None


class EndpointGone(Exception):
    """The subscribed endpoint was deleted: SNS cannot deliver the copy."""


def application_deliver(
    self: Any,
    message: str,
    message_id: str,
    *,
    message_attributes: dict[str, Any] | None = None,
    message_structure: str | None = None,
) -> PushOutcome:
    """Deliver one publication to an ``application`` subscription (``self``) as SNS does."""
    decision = delivery_decide(self, message, message_attributes)
    if not decision.matched:
        return PushOutcome(matched=False, reason=decision.reason)
    endpoint = self.topic.sns_backend.platform_endpoints.get(self.endpoint)
    if endpoint is None:
        raise EndpointGone(f"endpoint {self.endpoint} does not exist")
    if not endpoint.enabled:
        return PushOutcome(matched=True, delivered=False)
    body = payload_for(
        message, endpoint.application.platform, structured=message_structure == "json"
    )
    record = endpoint.messages
    record[message_id] = body
    while len(record) > ENDPOINT_RECORD_LIMIT:
        record.pop(next(iter(record)), None)
    return PushOutcome(matched=True, delivered=True, body=body)


def _without_secrets(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if k not in SECRET_ATTRIBUTES}


def _get_platform_application_attributes(self: Any, arn: str) -> dict[str, Any]:
    return _without_secrets(_originals["get_app_attributes"](self, arn))


class _ListedApplication:
    """What ListPlatformApplications serialises of an application, secrets left out."""

    def __init__(self, app: Any) -> None:
        self.arn = app.arn
        self.platform_application_arn = app.arn
        self.attributes = _without_secrets(app.attributes)


def _list_platform_applications(self: Any) -> list[_ListedApplication]:
    return [_ListedApplication(app) for app in _originals["list_apps"](self)]


def _create_platform_endpoint(
    self: Any, application: Any, custom_user_data: str, token: str, attributes: dict[str, Any]
) -> Any:
    endpoint = _originals["create_endpoint"](self, application, custom_user_data, token, attributes)
    if custom_user_data and "CustomUserData" not in endpoint.attributes:
        endpoint.attributes["CustomUserData"] = custom_user_data
    return endpoint


def push_active() -> bool:
    return bool(_originals)


def push_apply() -> bool:
    """Deliver topic publications to device endpoints as SNS does; after ``filtering``.
    Returns whether active (never raises)."""
    if _originals:
        return True
    if not moto_supported("mobile push through topics"):
        return False
    from moto.sns.models import SNSBackend

    from . import broker

    _originals["delivery"] = broker.application_delivery
    broker.application_delivery = application_deliver
    _originals["get_app_attributes"] = SNSBackend.__dict__["get_platform_application_attributes"]
    SNSBackend.get_platform_application_attributes = _get_platform_application_attributes  # type: ignore[method-assign]
    _originals["list_apps"] = SNSBackend.__dict__["list_platform_applications"]
    SNSBackend.list_platform_applications = _list_platform_applications  # type: ignore[method-assign,assignment]
    _originals["create_endpoint"] = SNSBackend.__dict__["create_platform_endpoint"]
    SNSBackend.create_platform_endpoint = _create_platform_endpoint  # type: ignore[method-assign]
    return True


def push_revert() -> None:
    from moto.sns.models import SNSBackend

    from . import broker

    if "delivery" in _originals:
        broker.application_delivery = _originals.pop("delivery")
    if "get_app_attributes" in _originals:
        SNSBackend.get_platform_application_attributes = _originals.pop("get_app_attributes")  # type: ignore[method-assign]
    if "list_apps" in _originals:
        SNSBackend.list_platform_applications = _originals.pop("list_apps")  # type: ignore[method-assign]
    if "create_endpoint" in _originals:
        SNSBackend.create_platform_endpoint = _originals.pop("create_endpoint")  # type: ignore[method-assign]
