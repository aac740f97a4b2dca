"""Parsing a definition's publishing steps (bursts, message lists, starting workers),
and the worker-spec and attribute checks the rest of the definition shares."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from messaging.burst import Burst
from messaging.errors import FlowdashError
from messaging.validation import (
    SNS_MAX_MESSAGE_BYTES,
    MessageAttribute,
    body_validate,
    message_attributes_validate,
)
from messaging.workers import WorkerSpec

from .jsonread import (
    BAD_VALUE,
    MISSING_KEY,
    DefinitionError,
    as_list,
    as_object,
    keys_check,
    number,
    text,
    text_or_none,
    whole,
)
from .scenario_types import (
    BurstDef,
    MessageDef,
    MessagesDef,
    ScenarioDefinition,
    Target,
    WorkersStepDef,
)

MESSAGES_PER_STEP_MAX = 100


def spec_check(values: dict[str, Any], where: str, base: WorkerSpec | None = None) -> WorkerSpec:
    try:
        spec = WorkerSpec(**{**spec_dict(base), **values}) if base else WorkerSpec(**values)
        return spec.validate()
    except FlowdashError as exc:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=exc.message)) from None
    except TypeError as exc:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=str(exc))) from None


def spec_dict(spec: WorkerSpec | None) -> dict[str, Any]:
    return {f.name: getattr(spec, f.name) for f in fields(WorkerSpec)} if spec else {}


def step_parse(
    data: Any, i: int, definition: ScenarioDefinition
) -> BurstDef | MessagesDef | WorkersStepDef:
    where = f"Publishing step {i}"
    item = as_object(data, where)
    kind = item.get("kind")
    if kind == "burst":
        return _burst(item, where, definition)
    if kind == "messages":
        return _messages(item, where, definition)
    if kind == "workers":
        keys_check(item, where, {"kind", "queue", "count"})
        queue = definition.queue_ref(text(item, "queue", where), where)
        count = whole(item, "count", where)
        base = definition.worker(queue)
        spec_check({"count": count}, where, base=base.spec if base else WorkerSpec())
        return WorkersStepDef(queue=queue, count=count)
    raise DefinitionError(
        BAD_VALUE.format(where=where, detail="'kind' must be 'burst', 'messages' or 'workers'.")
    )


def _burst(item: dict[str, Any], where: str, definition: ScenarioDefinition) -> BurstDef:
    keys_check(
        item,
        where,
        {
            "kind",
            "topic",
            "queue",
            "count",
            "rate",
            "body_template",
            "attributes",
            "message_group_id",
        },
    )
    target = definition.target_ref(item, where)
    attributes = attributes_parse(item.get("attributes", []), where)
    burst = BurstDef(
        target=target,
        count=whole(item, "count", where),
        rate=number(item, "rate", where),
        body_template=item.get("body_template", "message {{n}}"),
        attributes=attributes,
        message_group_id=text_or_none(item, "message_group_id", where),
    )
    try:
        Burst(
            count=burst.count,
            rate=burst.rate,
            body_template=str(burst.body_template),
            attributes=attributes,
            message_group_id=burst.message_group_id,
            **_fake_target(target),
        ).validate()
    except FlowdashError as exc:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=exc.message)) from None
    return burst


def _messages(item: dict[str, Any], where: str, definition: ScenarioDefinition) -> MessagesDef:
    keys_check(item, where, {"kind", "to", "messages"})
    targets = tuple(
        definition.target_ref(as_object(t, f"{where} target {n}"), f"{where} target {n}")
        for n, t in enumerate(as_list(item.get("to"), f"{where} 'to'"))
    )
    if not targets:
        raise DefinitionError(MISSING_KEY.format(where=where, key="to"))
    raw = as_list(item.get("messages"), f"{where} 'messages'")
    if not 1 <= len(raw) <= MESSAGES_PER_STEP_MAX:
        raise DefinitionError(
            BAD_VALUE.format(where=where, detail=f"send 1 to {MESSAGES_PER_STEP_MAX} messages.")
        )
    fifo = any(definition.is_fifo(t) for t in targets)
    messages = []
    for n, entry in enumerate(raw):
        at = f"{where} message {n}"
        message = as_object(entry, at)
        keys_check(message, at, {f.name for f in fields(MessageDef)})
        attributes = attributes_parse(message.get("attributes", []), at)
        body = text(message, "body", at)
        try:
            body_validate(body, limit=SNS_MAX_MESSAGE_BYTES, attributes=list(attributes))
        except FlowdashError as exc:
            raise DefinitionError(BAD_VALUE.format(where=at, detail=exc.message)) from None
        group_id = text_or_none(message, "group_id", at)
        if fifo and not group_id:
            raise DefinitionError(
                BAD_VALUE.format(where=at, detail="a FIFO target needs a 'group_id'.")
            )
        messages.append(
            MessageDef(
                body=body,
                subject=text_or_none(message, "subject", at),
                attributes=attributes,
                group_id=group_id,
                deduplication_id=text_or_none(message, "deduplication_id", at),
            )
        )
    return MessagesDef(to=targets, messages=tuple(messages))


def _fake_target(target: Target) -> dict[str, str]:
    """A stand-in address: Burst's checks look only at the kind and the .fifo suffix."""
    if target.kind == "topic":
        return {"topic_arn": f"arn:aws:sns:us-east-1:000000000000:{target.name}"}
    return {"queue_url": f"http://localhost/000000000000/{target.name}"}


def attributes_parse(data: Any, where: str) -> tuple[MessageAttribute, ...]:
    attributes = []
    for n, entry in enumerate(as_list(data, f"{where} attributes")):
        at = f"{where} attribute {n}"
        item = as_object(entry, at)
        keys_check(item, at, {"name", "type", "value"})
        attributes.append(
            MessageAttribute(
                name=text(item, "name", at),
                type=str(item.get("type", "String")),
                value=str(item.get("value", "")),
            )
        )
    try:
        return tuple(message_attributes_validate(attributes))
    except FlowdashError as exc:
        raise DefinitionError(BAD_VALUE.format(where=where, detail=exc.message)) from None
