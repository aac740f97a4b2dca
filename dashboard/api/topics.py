"""SNS topics, addressed by ARN: list, create, read, delete."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from messaging import resources

from .. import permissions
from ..backend import connection
from .errors import ERRORS
from .schemas import TopicOut

router = Router(tags=["topics"])


class TopicIn(Schema):
    name: str
    fifo: bool = False
    content_based_deduplication: bool = False


@router.get("/topics", response={200: list[TopicOut], **ERRORS})
def topic_list(request: HttpRequest) -> Any:
    return resources.topic_list(connection())


@router.post("/topics", response={201: TopicOut, **ERRORS})
def topic_create(request: HttpRequest, payload: TopicIn) -> Any:
    permissions.staff_check(request.user)
    return Status(201, resources.topic_create(connection(), **payload.dict()))


@router.get("/topics/{arn}", response={200: TopicOut, **ERRORS})
def topic_get(request: HttpRequest, arn: str) -> Any:
    return resources.topic_get(connection(), arn=arn)


@router.delete("/topics/{arn}", response={204: None, **ERRORS})
def topic_delete(request: HttpRequest, arn: str) -> Any:
    permissions.staff_check(request.user)
    resources.topic_delete(connection(), arn=arn)
    return Status(204, None)
