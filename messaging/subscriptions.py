"""Subscriptions: connect a topic to a queue, an HTTP(S) endpoint, email, SMS or a
mobile device (protocol ``application``: a platform endpoint of ``messaging.push``).

For an SQS subscription on real AWS the queue must also let the topic send to
it; Flowdash adds one statement with its own ``Sid`` to the queue policy and
keeps every other statement as it was, so a user's policy is never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .connection import Connection
from .errors import InvalidInput, ResourceNotFound, aws_errors
from .filter_policy import filter_policy_validate
from .push import platform_endpoint_get
from .resources import arn_name, is_listed, ownership_check, queue_url, topic_arns, topic_get
from .validation import EMAIL_RE, FIFO_SUFFIX, PHONE_RE

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import SubscriptionTypeDef

PROTOCOLS = ("sqs", "http", "https", "email", "email-json", "sms", "application")
RAW_DELIVERY_PROTOCOLS = ("sqs", "http", "https")
SCOPES = ("MessageAttributes", "MessageBody")
POLICY_SID = "FlowdashSnsDelivery"
#: Attribute names in an AWS error message, and the form field each belongs to
#: (FilterPolicyScope before FilterPolicy, which it contains).
ATTRIBUTE_FIELDS = (
    ("FilterPolicyScope", "filter_policy_scope"),
    ("FilterPolicy", "filter_policy"),
    ("RawMessageDelivery", "raw_message_delivery"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    filter_policy: str | None = None
    filter_policy_scope: str = "MessageAttributes"
    raw_message_delivery: bool = False
    pending_confirmation: bool = False


def subscription_create(
    conn: Connection,
    *,
    topic_arn: str,
    protocol: str,
    endpoint: str,
    filter_policy: str | dict[str, Any] | None = None,
    filter_policy_scope: str = "MessageAttributes",
    raw_message_delivery: bool = False,
) -> Subscription:
    conn.write_check()
    topic = topic_get(conn, arn=topic_arn)
    protocol = protocol.lower()
    if protocol not in PROTOCOLS:
        raise InvalidInput(f"Protocol must be one of {', '.join(PROTOCOLS)}.", field="protocol")
    endpoint = endpoint.strip()
    _endpoint_validate(conn, protocol=protocol, endpoint=endpoint, fifo_topic=topic.fifo)
    if raw_message_delivery and protocol not in RAW_DELIVERY_PROTOCOLS:
        raise InvalidInput(
            "Raw message delivery applies only to SQS and HTTP(S) subscriptions.",
            field="raw_message_delivery",
        )
    attributes = _attributes(filter_policy, filter_policy_scope, raw_message_delivery)
    if protocol == "sqs":
        queue_policy_allow(conn, queue_arn=endpoint, topic_arn=topic_arn)
    with _attribute_errors(), aws_errors(field="endpoint"):
        arn = conn.sns.subscribe(
            TopicArn=topic_arn,
            Protocol=protocol,
            Endpoint=endpoint,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
    conn.notify("topology.changed")
    return subscription_get(conn, arn=arn)


def subscription_update(
    conn: Connection,
    *,
    arn: str,
    filter_policy: str | dict[str, Any] | None,
    filter_policy_scope: str = "MessageAttributes",
    raw_message_delivery: bool | None = None,
) -> Subscription:
    """Replace the filter policy (None removes it) and optionally raw delivery."""
    conn.write_check()
    current = subscription_get(conn, arn=arn)
    raw = current.raw_message_delivery if raw_message_delivery is None else raw_message_delivery
    if raw and current.protocol not in RAW_DELIVERY_PROTOCOLS:
        raise InvalidInput(
            "Raw message delivery applies only to SQS and HTTP(S) subscriptions.",
            field="raw_message_delivery",
        )
    attributes = _attributes(filter_policy, filter_policy_scope, raw)
    with _attribute_errors(), aws_errors(field="filter_policy"):
        if "FilterPolicy" not in attributes and current.filter_policy:
            conn.sns.set_subscription_attributes(
                SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue=""
            )
        # AWS checks the policy against the subscription's scope, and checks the current
        # policy again when the scope changes: move to MessageBody (which allows more) before
        # setting the new policy, and to MessageAttributes only after it.
        if attributes.get("FilterPolicyScope") == "MessageBody":
            order = ("FilterPolicyScope", "FilterPolicy", "RawMessageDelivery")
        else:
            order = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery")
        for name in order:
            if name in attributes:
                conn.sns.set_subscription_attributes(
                    SubscriptionArn=arn, AttributeName=name, AttributeValue=attributes[name]
                )
    conn.notify("topology.changed")
    return subscription_get(conn, arn=arn)


def subscription_get(conn: Connection, *, arn: str) -> Subscription:
    with aws_errors(field="subscription"):
        attrs = conn.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    ownership_check(conn, arn_name(attrs["TopicArn"]))
    return _subscription(attrs)


def subscription_list(conn: Connection, *, topic_arn: str | None = None) -> list[Subscription]:
    """Subscriptions of Flowdash's topics; one extra request each for the attributes."""
    topics = [topic_arn] if topic_arn else topic_arns(conn)
    result: list[Subscription] = []
    with aws_errors():
        for arn in topics:
            pages = conn.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
            for page in pages:
                for sub in page.get("Subscriptions", []):
                    if sub["Protocol"] == "sqs" and not is_listed(conn, arn_name(sub["Endpoint"])):
                        continue  # a tap queue: Flowdash's own plumbing
                    result.append(listed_subscription(conn, sub))
    return result


def subscription_delete(conn: Connection, *, arn: str) -> None:
    conn.write_check()
    subscription_get(conn, arn=arn)  # raises if gone or outside the prefix
    with aws_errors(field="subscription"):
        conn.sns.unsubscribe(SubscriptionArn=arn)
    conn.notify("topology.changed")


def listed_subscription(
    conn: Connection, listed: SubscriptionTypeDef | Mapping[str, str]
) -> Subscription:
    """A subscription from a List* answer, with its attributes read (one request),
    except a pending one, which has none to read yet."""
    sub = {key: value for key, value in listed.items() if isinstance(value, str)}
    arn = sub["SubscriptionArn"]
    if not arn.startswith("arn:"):  # "PendingConfirmation" has no attributes to read yet
        return Subscription(
            arn=arn,
            topic_arn=sub["TopicArn"],
            protocol=sub["Protocol"],
            endpoint=sub["Endpoint"],
            pending_confirmation=True,
        )
    try:
        attrs = conn.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    except conn.sns.exceptions.NotFoundException:
        attrs = {**sub}
    return _subscription({**sub, **attrs})


def _subscription(attrs: dict[str, str]) -> Subscription:
    return Subscription(
        arn=attrs["SubscriptionArn"],
        topic_arn=attrs["TopicArn"],
        protocol=attrs["Protocol"],
        endpoint=attrs["Endpoint"],
        filter_policy=attrs.get("FilterPolicy") or None,
        filter_policy_scope=attrs.get("FilterPolicyScope") or "MessageAttributes",
        raw_message_delivery=attrs.get("RawMessageDelivery") == "true",
        pending_confirmation=attrs.get("PendingConfirmation") == "true",
    )


@contextmanager
def _attribute_errors() -> Iterator[None]:
    """Put the backend's refusal on the field it names: AWS's messages say
    "Invalid parameter: FilterPolicy: ..." (or FilterPolicyScope, RawMessageDelivery)."""
    try:
        yield
    except InvalidInput as exc:
        for attribute, field in ATTRIBUTE_FIELDS:
            if attribute in exc.message:
                exc.field = field
                break
        raise


def _attributes(
    filter_policy: str | dict[str, Any] | None, scope: str, raw: bool
) -> dict[str, str]:
    attributes: dict[str, str] = {"RawMessageDelivery": "true" if raw else "false"}
    if scope not in SCOPES:
        raise InvalidInput(
            "Filter policy scope must be MessageAttributes or MessageBody.",
            field="filter_policy_scope",
        )
    if isinstance(filter_policy, str) and not filter_policy.strip():
        filter_policy = None
    if filter_policy is not None:
        policy = filter_policy_validate(filter_policy, scope=scope)
        attributes["FilterPolicyScope"] = scope
        attributes["FilterPolicy"] = json.dumps(policy)
    return attributes


def _endpoint_validate(conn: Connection, *, protocol: str, endpoint: str, fifo_topic: bool) -> None:
    if not endpoint:
        raise InvalidInput("Enter an endpoint for the subscription.", field="endpoint")
    if fifo_topic and protocol != "sqs":
        raise InvalidInput("A FIFO topic can deliver only to SQS FIFO queues.", field="protocol")
    if protocol == "sqs":
        try:
            queue_url(conn, arn=endpoint)
        except InvalidInput:
            raise InvalidInput(
                "For an SQS subscription, choose a queue (its ARN).", field="endpoint"
            ) from None
        except ResourceNotFound:
            raise ResourceNotFound(
                f"Queue {arn_name(endpoint)!r} does not exist.", field="endpoint"
            ) from None
        fifo_queue = endpoint.endswith(FIFO_SUFFIX)
        if fifo_topic and not fifo_queue:
            raise InvalidInput(
                "A FIFO topic can deliver only to FIFO queues; choose a queue ending in '.fifo'.",
                field="endpoint",
            )
        if fifo_queue and not fifo_topic:
            raise InvalidInput(
                "A standard topic cannot deliver to a FIFO queue; use a FIFO topic.",
                field="endpoint",
            )
    elif protocol in ("http", "https"):
        parts = urlsplit(endpoint)
        if parts.scheme != protocol or not parts.hostname:
            raise InvalidInput(
                f"Enter a full {protocol.upper()} URL starting with {protocol}://.",
                field="endpoint",
            )
        allowed = conn.config.http_allowed_hosts
        if not host_allowed(parts.hostname, allowed):
            raise InvalidInput(
                f"SNS would call {parts.hostname}, which is not an allowed host. Flowdash only "
                "lets subscriptions call hosts listed in FLOWDASH_HTTP_ALLOWED_HOSTS "
                f"({', '.join(allowed) or 'none are'}).",
                field="endpoint",
            )
    elif protocol in ("email", "email-json"):
        if not EMAIL_RE.match(endpoint):
            raise InvalidInput("Enter an email address.", field="endpoint")
    elif protocol == "application":
        try:
            platform_endpoint_get(conn, arn=endpoint)
        except InvalidInput:
            raise InvalidInput(
                "For a mobile push subscription, choose a device: a platform endpoint's ARN.",
                field="endpoint",
            ) from None
        except ResourceNotFound:
            raise ResourceNotFound(
                "That device (platform endpoint) does not exist.", field="endpoint"
            ) from None
    elif protocol == "sms" and not PHONE_RE.match(endpoint):
        raise InvalidInput(
            "Enter a phone number in E.164 form, such as +14155550100.", field="endpoint"
        )


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """``host`` is listed, or a subdomain of a listed ``.domain``."""
    host = host.lower().rstrip(".")
    return any(
        host == entry or (entry.startswith(".") and host.endswith(entry)) for entry in allowed
    )


def queue_policy_allow(conn: Connection, *, queue_arn: str, topic_arn: str) -> None:
    """Let the topic send to the queue, keeping every statement Flowdash did not write."""
    conn.write_check()
    url = queue_url(conn, arn=queue_arn)
    with aws_errors(field="endpoint"):
        current = conn.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
        policy_text = current.get("Attributes", {}).get("Policy")
        policy: dict[str, Any] = (
            json.loads(policy_text) if policy_text else {"Version": "2012-10-17"}
        )
        statements = [s for s in policy.get("Statement", []) if s.get("Sid") != POLICY_SID]
        ours = next((s for s in policy.get("Statement", []) if s.get("Sid") == POLICY_SID), None)
        sources: list[str] = []
        if ours:
            existing = ours.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])
            sources = [existing] if isinstance(existing, str) else list(existing)
        if topic_arn in sources:
            return
        sources.append(topic_arn)
        statements.append(
            {
                "Sid": POLICY_SID,
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": sources}},
            }
        )
        policy["Statement"] = statements
        conn.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
