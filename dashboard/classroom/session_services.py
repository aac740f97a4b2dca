"""Class sessions and participants: joining, publishing, working a queue. Keyword-only.

A participant acts only inside their own class session and only on the ARNs
the instructor allowed; every service here checks the participant's row and
the class's flags first. A participant working a queue is a real SQS consumer:
ReceiveMessage with a 60 s visibility timeout, then DeleteMessage ("done") or
ChangeMessageVisibility to 0 ("fail"). Each step is reported to the flow engine
(``consumer.received`` / ``consumer.outcome``) under the participant's display
name, so the diagram shows them as a worker competing with the simulated ones.
Receiving does not wait (short poll): a long poll would hold a server thread,
so the phone asks again every few seconds instead.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from messaging import publishing, resources
from messaging.errors import FlowdashError
from messaging.publishing import PublishResult
from messaging.receiving import ReceivedMessage, received_message
from messaging.resources import arn_name
from messaging.validation import FIFO_SUFFIX, MessageAttribute

from ..backend import connection
from ..flowbus import command_send
from ..permissions import RateLimited
from ..ratelimit import participant_rate, token_take
from .errors import (
    ALREADY_HOLDING,
    CLASS_ENDED,
    JOINING_CLOSED,
    NAME_INVALID,
    NAME_TAKEN,
    NOTHING_HELD,
    PUBLISHING_LOCKED,
    QUEUE_NOT_ALLOWED,
    RATE_LIMITED,
    REMOVED,
    TARGET_NOT_ALLOWED,
    TOO_LATE,
    UNKNOWN_CODE,
    ClassroomError,
    NameTaken,
    UnknownClass,
)
from .models import ClassSession, Participant, ParticipantAction, Scenario

#: No 0/O or 1/I: codes are read off a projector.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 5
NAME_RE = re.compile(r"^\w[\w .'\-]{0,23}$")
VISIBILITY_SECONDS = 60


# Class sessions ---------------------------------------------------------------------


def class_session_start(
    *, user: Any, title: str = "", scenario: Scenario | None = None
) -> ClassSession:
    """Open a class with a fresh join code."""
    for _ in range(20):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if not ClassSession.objects.filter(join_code=code).exists():
            break
    return ClassSession.objects.create(
        join_code=code, title=title.strip()[:100], created_by=user, scenario=scenario
    )


def class_session_flags_set(
    *, class_session: ClassSession, joining_open: bool | None = None,
    publishing_locked: bool | None = None,
) -> ClassSession:  # fmt: skip
    if joining_open is not None:
        class_session.joining_open = joining_open
    if publishing_locked is not None:
        class_session.publishing_locked = publishing_locked
    class_session.save(update_fields=["joining_open", "publishing_locked"])
    return class_session


def class_session_allow(
    *, class_session: ClassSession, topics: Iterable[str], queues: Iterable[str],
    work: Iterable[str],
) -> ClassSession:  # fmt: skip
    """Set what participants may publish to (topics, queues) and work on (queues), by ARN."""
    for arn, kind in [*((a, "sns") for a in topics), *((a, "sqs") for a in [*queues, *work])]:
        parts = arn.split(":")
        if len(parts) != 6 or parts[2] != kind:
            raise ClassroomError(f"{arn!r} is not an {kind.upper()} ARN.", code="InvalidInput")
    class_session.allowed_topics = sorted(set(topics))
    class_session.allowed_queues = sorted(set(queues))
    class_session.worker_queues = sorted(set(work))
    class_session.save(update_fields=["allowed_topics", "allowed_queues", "worker_queues"])
    return class_session


def class_session_scenario_set(
    *, class_session: ClassSession, scenario: Scenario, topics: dict[str, str],
    queues: dict[str, str],
) -> ClassSession:  # fmt: skip
    """After a load: the class shows this scenario and allows what it says participants use."""
    allow = scenario.parsed().allow
    class_session.scenario = scenario
    class_session.save(update_fields=["scenario"])
    return class_session_allow(
        class_session=class_session,
        topics=[topics[n] for n in allow.topics],
        queues=[queues[n] for n in allow.queues],
        work=[queues[n] for n in allow.work],
    )


def class_session_end(*, class_session: ClassSession) -> ClassSession:
    """End the class: participants' requests are refused from now on; held messages go back."""
    class_session.ended_at = timezone.now()
    class_session.joining_open = False
    class_session.save(update_fields=["ended_at", "joining_open"])
    for participant in class_session.participants.present():
        participant_work_stop(participant=participant)
    return class_session


# Joining ----------------------------------------------------------------------------


def participant_join(*, code: str, display_name: str, session_key: str) -> Participant:
    """Join by code; the same browser joining again gets its existing place back."""
    code = re.sub(r"\s+", "", code).upper()
    class_session = ClassSession.objects.filter(join_code=code).first()
    if class_session is None or not code:
        raise UnknownClass(UNKNOWN_CODE.format(code=code), field="code")
    if class_session.ended:
        raise ClassroomError(CLASS_ENDED, code="ClassEnded", field="code")
    name = " ".join(display_name.split())
    if not NAME_RE.match(name):
        raise ClassroomError(NAME_INVALID, code="InvalidInput", field="display_name")
    mine = Participant.objects.filter(class_session=class_session, session_key=session_key)
    if mine.filter(removed_at__isnull=False).exists():
        raise ClassroomError(REMOVED, code="Removed", field="code")
    existing = mine.present().first()
    if existing is None and not class_session.joining_open:
        raise ClassroomError(JOINING_CLOSED, code="JoiningClosed", field="code")
    taken = Participant.objects.present().filter(
        class_session=class_session, display_name__iexact=name
    )
    if existing is not None:
        taken = taken.exclude(pk=existing.pk)
    if taken.exists():
        raise NameTaken(NAME_TAKEN.format(name=name), field="display_name")
    try:
        with transaction.atomic():
            if existing is not None:
                existing.display_name = name
                existing.save(update_fields=["display_name"])
                return existing
            return Participant.objects.create(
                class_session=class_session, display_name=name, session_key=session_key
            )
    except IntegrityError:  # someone took the name a moment ago
        raise NameTaken(NAME_TAKEN.format(name=name), field="display_name") from None


def participant_check(*, participant: Participant) -> Participant:
    """Refuse a removed participant or an ended class; note that they were here."""
    if participant.removed_at is not None:
        raise ClassroomError(REMOVED, code="Removed")
    if participant.class_session.ended:
        raise ClassroomError(CLASS_ENDED, code="ClassEnded")
    Participant.objects.filter(pk=participant.pk).update(last_seen_at=timezone.now())
    return participant


def participant_remove(*, participant: Participant) -> None:
    """The instructor removes a participant: their held message goes back to the queue."""
    participant_work_stop(participant=participant)
    participant.removed_at = timezone.now()
    participant.save(update_fields=["removed_at"])


# Publishing -------------------------------------------------------------------------


def participant_publish(
    *, participant: Participant, target_arn: str, body: str,
    attributes: Iterable[MessageAttribute] = (), message_group_id: str | None = None,
) -> PublishResult:  # fmt: skip
    """Publish to an allowed topic or send to an allowed queue, within the rate limit."""
    participant_check(participant=participant)
    class_session = participant.class_session
    if class_session.publishing_locked:
        raise ClassroomError(PUBLISHING_LOCKED, code="PublishingLocked")
    is_topic = target_arn in class_session.allowed_topics
    if not is_topic and target_arn not in class_session.allowed_queues:
        raise ClassroomError(
            TARGET_NOT_ALLOWED.format(name=arn_name(target_arn)), code="NotAllowed", field="target"
        )
    wait = token_take(key=f"classroom:rate:{participant.pk}", rate=participant_rate())
    if wait:
        raise RateLimited(RATE_LIMITED.format(seconds=wait), code="RateLimited")
    conn = connection()
    ids: dict[str, Any] = {}
    if target_arn.endswith(FIFO_SUFFIX):
        ids = {
            "message_group_id": message_group_id or f"p{participant.pk}",
            "deduplication_id": uuid.uuid4().hex,
        }
    if is_topic:
        result = publishing.topic_publish(
            conn, topic_arn=target_arn, body=body, attributes=attributes, **ids
        )
    else:
        url = resources.queue_url(conn, arn=target_arn)
        result = publishing.queue_send(conn, queue_url=url, body=body, attributes=attributes, **ids)
    Participant.objects.filter(pk=participant.pk).update(published_count=F("published_count") + 1)
    ParticipantAction.objects.create(
        participant=participant, kind="published" if is_topic else "sent",
        trace_id=result.message_id, target_arn=target_arn,
    )  # fmt: skip
    # The observer sees the publication but not who made it: the diagram's producer node.
    command_send(
        "participant.published", name=participant.display_name, target_arn=target_arn,
        trace_id=result.message_id,
    )  # fmt: skip
    return result


# Working a queue --------------------------------------------------------------------


def raw_message(message: ReceivedMessage) -> dict[str, Any]:
    """The message as boto3 returned it, in JSON-safe form (what the engine's
    ``consumer.*`` commands and the database take). Binary attributes travel as base64
    text, which is how `received_message` presents them anyway."""
    return {
        "MessageId": message.message_id,
        "ReceiptHandle": message.receipt_handle,
        "Body": message.body,
        "Attributes": dict(message.system_attributes),
        "MessageAttributes": {
            a.name: {"DataType": a.type, "StringValue": a.value} for a in message.message_attributes
        },
    }


def participant_receive(*, participant: Participant, queue_arn: str) -> ReceivedMessage | None:
    """Take one message from an allowed queue (None when there is none right now)."""
    participant_check(participant=participant)
    if participant.held:
        raise ClassroomError(ALREADY_HOLDING, code="AlreadyHolding")
    if queue_arn not in participant.class_session.worker_queues:
        raise ClassroomError(
            QUEUE_NOT_ALLOWED.format(name=arn_name(queue_arn)), code="NotAllowed", field="queue"
        )
    conn = connection()
    url = resources.queue_url(conn, arn=queue_arn)
    if participant.work_queue_arn and participant.work_queue_arn != queue_arn:
        command_send("consumer.leave", worker=participant.display_name)
    participant.work_queue_arn = queue_arn
    messages = publishing.queue_receive(
        conn, queue_url=url, max_messages=1, visibility_timeout=VISIBILITY_SECONDS, wait_seconds=0
    )
    if not messages:
        participant.save(update_fields=["work_queue_arn"])
        return None
    message = messages[0]
    raw = raw_message(message)
    participant.held_message = {"queue_arn": queue_arn, "queue_url": url, "message": raw}
    participant.held_at = timezone.now()
    participant.save(update_fields=["work_queue_arn", "held_message", "held_at"])
    command_send(
        "consumer.received", queue_arn=queue_arn, worker=participant.display_name, message=raw
    )
    return message


def participant_finish(*, participant: Participant, ok: bool) -> str:
    """ "Done" deletes the held message; "fail" makes it visible again at once.

    Returns the outcome the engine was told: ``processed`` or ``failed``.
    """
    participant_check(participant=participant)
    held = participant.held
    if not held:
        raise ClassroomError(NOTHING_HELD, code="NothingHeld")
    conn = connection()
    message = received_message(held["message"])
    too_late = False
    try:
        if ok:
            publishing.message_delete(
                conn, queue_url=held["queue_url"], receipt_handle=message.receipt_handle
            )
        else:
            publishing.message_release(
                conn, queue_url=held["queue_url"], receipt_handle=message.receipt_handle
            )
    except FlowdashError:
        too_late = ok  # a failed release needs nothing: the message comes back anyway
    succeeded = ok and not too_late
    reason = (
        f"took longer than the {VISIBILITY_SECONDS} s visibility timeout"
        if too_late
        else "tapped Fail"
    )
    _outcome(participant, held, succeeded, reason)
    if too_late:
        raise ClassroomError(TOO_LATE, code="TooLate")
    return "processed" if succeeded else "failed"


def participant_work_stop(*, participant: Participant) -> None:
    """Stop working: a held message goes back to the queue, and the worker leaves the diagram."""
    held = participant.held
    if held:
        message = received_message(held["message"])
        # Gone or lapsed: it is back in the queue (or the queue is gone) either way.
        with contextlib.suppress(FlowdashError):
            publishing.message_release(
                connection(), queue_url=held["queue_url"], receipt_handle=message.receipt_handle
            )
        _outcome(participant, held, False, "stopped working")
    if participant.work_queue_arn:
        command_send("consumer.leave", worker=participant.display_name)
    participant.work_queue_arn = ""
    participant.save(update_fields=["work_queue_arn"])


def participants_release(*, queue_name_prefix: str) -> int:
    """The queues are going away (a scenario reset): forget held messages, leave the diagram."""
    working = [
        p
        for p in Participant.objects.exclude(work_queue_arn="")
        if arn_name(p.work_queue_arn).startswith(queue_name_prefix)
    ]
    for participant in working:
        command_send("consumer.leave", worker=participant.display_name)
        participant.work_queue_arn = ""
        participant.held_message = None
        participant.held_at = None
        participant.save(update_fields=["work_queue_arn", "held_message", "held_at"])
    return len(working)


def _outcome(participant: Participant, held: dict[str, Any], ok: bool, reason: str) -> None:
    # ``reason`` leaves out the name: the failed event's ``worker`` carries it, and the
    # log reads "Ben: tapped Fail", not "Ben: Ben tapped Fail".
    duration_ms = (
        int((timezone.now() - participant.held_at).total_seconds() * 1000)
        if participant.held_at
        else 0
    )
    command_send(
        "consumer.outcome", queue_arn=held["queue_arn"], worker=participant.display_name,
        message=held["message"], ok=ok, reason="" if ok else reason, duration_ms=duration_ms,
    )  # fmt: skip
    message = received_message(held["message"])
    counter = "processed_count" if ok else "failed_count"
    Participant.objects.filter(pk=participant.pk).update(**{counter: F(counter) + 1})
    ParticipantAction.objects.create(
        participant=participant, kind="processed" if ok else "failed",
        trace_id=message.envelope.message_id if message.envelope else message.message_id,
        target_arn=held["queue_arn"],
    )  # fmt: skip
    participant.held_message = None
    participant.held_at = None
    participant.save(update_fields=["held_message", "held_at"])
