"""SNS topics: create, read, list, delete, each idempotent where AWS is.

Listing costs one ListTopics page per 100 topics plus a GetTopicAttributes per
topic (attributes are not in the listing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..connection import Connection
from ..errors import InvalidInput, ResourceNotFound, aws_errors
from ..validation import resource_name_validate
from .cache import SETTING_TTL, resource_cache
from .names import TAGS, arn_name, is_listed, ownership_check, qualified_name

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import TagTypeDef


@dataclass(frozen=True, slots=True, kw_only=True)
class Topic:
    arn: str
    name: str
    fifo: bool
    content_based_deduplication: bool = False
    attributes: dict[str, str] = field(default_factory=dict)


def topic_create(
    conn: Connection, *, name: str, fifo: bool = False, content_based_deduplication: bool = False
) -> Topic:
    conn.write_check()
    name = resource_name_validate(qualified_name(conn, name), kind="topic", fifo=fifo)
    if content_based_deduplication and not fifo:
        raise InvalidInput(
            "Content-based deduplication applies only to FIFO topics.",
            field="content_based_deduplication",
        )
    attributes = {"FifoTopic": "true"} if fifo else {}
    if content_based_deduplication:
        attributes["ContentBasedDeduplication"] = "true"
    tags: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in TAGS.items()]
    with aws_errors(field="name"):
        arn = conn.sns.create_topic(Name=name, Attributes=attributes, Tags=tags)["TopicArn"]
    conn.notify("topology.changed")
    return topic_get(conn, arn=arn)


def topic_get(conn: Connection, *, arn: str) -> Topic:
    ownership_check(conn, arn_name(arn))
    with aws_errors():
        attributes = conn.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    return Topic(
        arn=arn,
        name=arn_name(arn),
        fifo=attributes.get("FifoTopic") == "true",
        content_based_deduplication=attributes.get("ContentBasedDeduplication") == "true",
        attributes=attributes,
    )


def topic_arns(conn: Connection) -> list[str]:
    arns: list[str] = []
    with aws_errors():
        for page in conn.sns.get_paginator("list_topics").paginate():
            arns.extend(
                t["TopicArn"]
                for t in page.get("Topics", [])
                if is_listed(conn, arn_name(t["TopicArn"]))
            )
    return sorted(arns)


def topic_list(conn: Connection) -> list[Topic]:
    topics = []
    for arn in topic_arns(conn):
        try:
            topics.append(topic_get(conn, arn=arn))
        except ResourceNotFound:  # deleted between the listing and the read
            continue
    return topics


def topic_delete(conn: Connection, *, arn: str) -> None:
    conn.write_check()
    ownership_check(conn, arn_name(arn))
    with aws_errors():
        conn.sns.delete_topic(TopicArn=arn)
    resource_cache.forget(conn, arn)
    conn.notify("topology.changed")


def topic_content_deduplication(conn: Connection, *, arn: str) -> bool:
    """Whether a FIFO topic deduplicates by content: a FIFO publish without a
    deduplication id needs it, and asking costs a GetTopicAttributes per publish."""
    cached: bool | None = resource_cache.get(conn, "cbd", arn)
    if cached is None:
        with aws_errors(field="topic"):
            attributes = conn.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        cached = attributes.get("ContentBasedDeduplication") == "true"
        resource_cache.put(conn, "cbd", arn, cached, ttl=SETTING_TTL)
    return cached
