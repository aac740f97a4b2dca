"""Subscriptions of queues and endpoints to topics, addressed by ARN, and a preview of
what a filter policy would let through."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from messaging import subscriptions

from .. import flowbus, permissions, selectors
from ..backend import connection
from .errors import ERRORS
from .schemas import SubscriptionOut

router = Router(tags=["subscriptions"])


class SubscriptionIn(Schema):
    topic_arn: str
    protocol: Literal["sqs", "http", "https", "email", "email-json", "sms", "application"]
    endpoint: str = Field(description="Queue ARN for sqs; URL, email address or phone number")
    filter_policy: str | dict[str, Any] | None = None
    filter_policy_scope: Literal["MessageAttributes", "MessageBody"] = "MessageAttributes"
    raw_message_delivery: bool = False


class SubscriptionUpdateIn(Schema):
    filter_policy: str | dict[str, Any] | None = None
    filter_policy_scope: Literal["MessageAttributes", "MessageBody"] = "MessageAttributes"
    raw_message_delivery: bool | None = None


class PolicyPreviewIn(Schema):
    filter_policy: str | dict[str, Any]
    filter_policy_scope: Literal["MessageAttributes", "MessageBody"] = "MessageAttributes"


class PolicyPreviewOut(Schema):
    trace_id: str
    body: str
    attributes: dict[str, dict[str, str]]
    matched: bool
    reason: str | None


@router.get("/subscriptions", response={200: list[SubscriptionOut], **ERRORS})
def subscription_list(request: HttpRequest, topic_arn: str | None = None) -> Any:
    return subscriptions.subscription_list(connection(), topic_arn=topic_arn)


@router.post("/subscriptions", response={201: SubscriptionOut, **ERRORS})
def subscription_create(request: HttpRequest, payload: SubscriptionIn) -> Any:
    permissions.staff_check(request.user)
    return Status(201, subscriptions.subscription_create(connection(), **payload.dict()))


@router.patch("/subscriptions/{arn}", response={200: SubscriptionOut, **ERRORS})
def subscription_update(request: HttpRequest, arn: str, payload: SubscriptionUpdateIn) -> Any:
    permissions.staff_check(request.user)
    return subscriptions.subscription_update(connection(), arn=arn, **payload.dict())


@router.delete("/subscriptions/{arn}", response={204: None, **ERRORS})
def subscription_delete(request: HttpRequest, arn: str) -> Any:
    permissions.staff_check(request.user)
    subscriptions.subscription_delete(connection(), arn=arn)
    return Status(204, None)


@router.post("/subscriptions/{arn}/preview", response={200: list[PolicyPreviewOut], **ERRORS})
def subscription_preview(request: HttpRequest, arn: str, payload: PolicyPreviewIn) -> Any:
    """Which of the topic's last published messages this policy would let through."""
    sub = subscriptions.subscription_get(connection(), arn=arn)
    return selectors.policy_preview(
        topic_arn=sub.topic_arn,
        policy=payload.filter_policy,
        scope=payload.filter_policy_scope,
        unsaved=flowbus.events_unsaved(type="published", resource=sub.topic_arn),
    )
