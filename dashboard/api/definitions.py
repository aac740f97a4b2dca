"""Definitions: the whole topology (optionally with messages) as one JSON document,
exported with ``GET /definitions`` and imported with ``POST /definitions``
(``messaging/definitions.py`` describes the document). Instructors only: an export
holds every message body, and an import creates resources."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema

from messaging.definitions import (
    ImportPlan,
    definitions_export,
    definitions_import,
    definitions_load,
)

from .. import permissions
from ..backend import connection
from .errors import ERRORS

router = Router(tags=["definitions"])

#: The request body of an import, for the OpenAPI docs: the document is read and
#: checked by ``messaging.definitions`` itself, which names each problem's place.
DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "A definitions document, as GET /api/definitions answers",
                    "required": ["format", "version"],
                }
            }
        },
    }
}


class PlannedItemOut(Schema):
    kind: Literal["topic", "queue", "subscription"]
    name: str
    action: Literal["create", "exists"]
    detail: str
    messages: int
    messages_skipped: int


class ImportOut(Schema):
    applied: bool
    summary: str
    created: dict[str, int]
    existing: dict[str, int]
    items: list[PlannedItemOut]


@router.get("/definitions", response={200: dict[str, Any], **ERRORS})
def definitions_get(request: HttpRequest, messages: bool = False) -> Any:
    """Topics, queues and subscriptions under the prefix; ``messages=1`` adds each
    queue's messages, read without receiving where the backend allows it."""
    permissions.staff_check(request.user)
    return definitions_export(connection(), messages=messages)


@router.post("/definitions", response={200: ImportOut, **ERRORS}, openapi_extra=DOCUMENT_BODY)
def definitions_post(request: HttpRequest, dry_run: bool = False) -> Any:
    """Create what the document has and the backend lacks (``dry_run=1``: only say
    what). A document with any problem creates nothing: the error's message names
    each problem by its place (``queues[2].name: ...``), its field the first."""
    permissions.staff_check(request.user)
    plan = definitions_import(
        connection(), document=definitions_load(data=request.body), dry_run=dry_run
    )
    return _import_out(plan)


def _import_out(plan: ImportPlan) -> dict[str, Any]:
    summary = plan.summary()
    return {
        "applied": plan.applied,
        "summary": plan.describe(),
        "created": summary["create"],
        "existing": summary["exists"],
        "items": plan.items,
    }
