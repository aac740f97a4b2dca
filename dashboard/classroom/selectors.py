"""Reads for the classroom pages: what the presenter and a participant see."""

from __future__ import annotations

from typing import Any

from messaging.receiving import received_message
from messaging.resources import arn_name
from messaging.validation import FIFO_SUFFIX

from ..backend import connection
from .definition import DefinitionError, scenario_prefix
from .errors import UNKNOWN_CODE, UNKNOWN_SCENARIO, UnknownClass, UnknownScenario
from .models import ClassSession, Participant, ParticipantAction, Scenario

RECENT_ACTIONS = 100


def scenario_get(*, slug: str) -> Scenario:
    scenario = Scenario.objects.filter(slug=slug).first()
    if scenario is None:
        raise UnknownScenario(UNKNOWN_SCENARIO.format(slug=slug), field="slug")
    return scenario


def class_session_get(*, code: str) -> ClassSession:
    found = ClassSession.objects.select_related("scenario").filter(join_code=code.upper()).first()
    if found is None:
        raise UnknownClass(UNKNOWN_CODE.format(code=code), field="code")
    return found


def scenario_summary(*, scenario: Scenario | None) -> dict[str, Any] | None:
    """What the pages show of a scenario: explanation, actions, and the queues it owns."""
    if scenario is None:
        return None
    try:
        definition = scenario.parsed()
    except DefinitionError:
        definition = None
    return {
        "slug": scenario.slug,
        "name": scenario.name,
        "explanation": scenario.explanation,
        "prefix": connection().prefix + scenario_prefix(scenario.slug),
        "actions": [{"index": i, "label": a.label} for i, a in enumerate(definition.actions)]
        if definition
        else [],
        "workers": {w.queue: w.spec.count for w in definition.workers} if definition else {},
        "queues": [q.name for q in definition.queues] if definition else [],
    }


def class_session_state(*, class_session: ClassSession) -> dict[str, Any]:
    """The presenter's poll: flags, who joined and what they did recently."""
    participants = list(class_session.participants.present())
    actions = (
        ParticipantAction.objects.filter(participant__class_session=class_session)
        .select_related("participant")
        .order_by("-created_at")[:RECENT_ACTIONS]
    )
    return {
        "code": class_session.join_code,
        "title": class_session.title,
        "joining_open": class_session.joining_open,
        "publishing_locked": class_session.publishing_locked,
        "ended": class_session.ended,
        "scenario": scenario_summary(scenario=class_session.scenario),
        "allowed": {
            "topics": class_session.allowed_topics,
            "queues": class_session.allowed_queues,
            "work": class_session.worker_queues,
        },
        "counts": {
            "joined": len(participants),
            "working": sum(1 for p in participants if p.work_queue_arn),
        },
        "participants": [_participant_row(p) for p in participants],
        "actions": [
            {
                "name": a.participant.display_name,
                "kind": a.kind,
                "trace_id": a.trace_id,
                "target": arn_name(a.target_arn),
                "at": a.created_at.timestamp(),
            }
            for a in actions
        ],
    }


def participant_view(*, participant: Participant) -> dict[str, Any]:
    """Everything the phone page shows; only this participant's own class."""
    class_session = participant.class_session
    held = participant.held
    owned = scenario_summary(scenario=class_session.scenario)
    strip = owned["prefix"] if owned else ""

    def target(arn: str, kind: str) -> dict[str, Any]:
        name = arn_name(arn)
        label = name.removeprefix(strip) if strip else name
        return {"arn": arn, "name": name, "label": label, "kind": kind,
                "fifo": arn.endswith(FIFO_SUFFIX)}  # fmt: skip

    return {
        "name": participant.display_name,
        "class": {
            "code": class_session.join_code,
            "title": class_session.title,
            "publishing_locked": class_session.publishing_locked,
            "ended": class_session.ended,
        },
        "scenario": (
            {"name": class_session.scenario.name, "explanation": class_session.scenario.explanation}
            if class_session.scenario
            else None
        ),
        "targets": [
            *(target(a, "topic") for a in class_session.allowed_topics),
            *(target(a, "queue") for a in class_session.allowed_queues),
        ],
        "work_queues": [target(a, "queue") for a in class_session.worker_queues],
        "working": participant.work_queue_arn,
        "holding": held_view(held["message"], held["queue_arn"], strip=strip) if held else None,
        "counts": {
            "published": participant.published_count,
            "processed": participant.processed_count,
            "failed": participant.failed_count,
        },
    }


def held_view(raw: dict[str, Any], queue_arn: str, *, strip: str = "") -> dict[str, Any]:
    """A held message as the phone shows it: the SNS message inside an envelope, if any."""
    message = received_message(raw)
    envelope = message.envelope
    return {
        "queue_arn": queue_arn,
        "queue": arn_name(queue_arn).removeprefix(strip) if strip else arn_name(queue_arn),
        "message_id": message.message_id,
        "body": envelope.message if envelope else message.body,
        "subject": envelope.subject if envelope else None,
        "receive_count": message.receive_count,
        "attributes": {
            name: value.get("Value", "")
            for name, value in (envelope.message_attributes if envelope else {}).items()
        }
        or {a.name: a.value for a in message.message_attributes},
    }


def _participant_row(p: Participant) -> dict[str, Any]:
    return {
        "id": p.pk,
        "name": p.display_name,
        "published": p.published_count,
        "processed": p.processed_count,
        "failed": p.failed_count,
        "working": arn_name(p.work_queue_arn) if p.work_queue_arn else "",
        "holding": bool(p.held),
        "joined_at": p.joined_at.timestamp(),
    }
