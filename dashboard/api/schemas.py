"""Schemas more than one part of the API answers with: the resources as AWS knows
them, a message attribute as users type it, and an SNS envelope found in a body."""

from __future__ import annotations

from ninja import Field, Schema

from messaging.validation import MessageAttribute


class DepthOut(Schema):
    visible: int
    in_flight: int
    delayed: int


class TopicOut(Schema):
    arn: str
    name: str
    fifo: bool
    content_based_deduplication: bool


class QueueOut(Schema):
    url: str
    arn: str
    name: str
    fifo: bool
    depth: DepthOut
    content_based_deduplication: bool
    dead_letter_arn: str | None
    max_receive_count: int | None
    attributes: dict[str, str]


class SubscriptionOut(Schema):
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    filter_policy: str | None
    filter_policy_scope: str
    raw_message_delivery: bool
    pending_confirmation: bool


class AttributeIn(Schema):
    name: str
    type: str = "String"
    value: str = Field(description="Binary values as base64")


class EnvelopeOut(Schema):
    message_id: str
    topic_arn: str
    message: str
    type: str
    subject: str | None
    timestamp: str | None
    message_attributes: dict[str, dict[str, str]]


def message_attributes(items: list[AttributeIn]) -> list[MessageAttribute]:
    """Attributes as the API takes them, as ``messaging`` takes them."""
    return [MessageAttribute(name=a.name, type=a.type, value=a.value) for a in items]
