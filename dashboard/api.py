"""The JSON API: the same operations as the pages, for scripts and the browser.

Resources are addressed by ARN, as AWS does. Session auth (with CSRF) serves
the browser; scripts send ``Authorization: Bearer <token>`` with a token from
``manage.py apitoken``. Every error has one shape, ``{"error": {"code",
"message", "field"}}``, produced by the handlers at the bottom.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal, TypeVar

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, django_auth

from messaging import inspection, publishing, push, resources, subscriptions
from messaging.burst import Burst
from messaging.connection import Connection
from messaging.errors import BackendFailed, FlowdashError, ResourceNotFound
from messaging.publishing import BatchEntry
from messaging.topology import topology_get
from messaging.validation import BATCH_MAX, MessageAttribute
from messaging.workers import WorkerSpec

from . import permissions, selectors, services
from .backend import connection
from .flowbus import command_send
from .models import ApiToken, HttpDelivery, token_digest

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: What the last-resort handler says: the exception's own text may hold secrets.
UNEXPECTED_ERROR = "Flowdash failed unexpectedly; the server log has the details."


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            row = ApiToken.objects.active().select_related("user").get(digest=token_digest(token))
        except ApiToken.DoesNotExist:
            return None
        now = timezone.now()
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            # A write per request would cost more than the request; a minute is precise enough.
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        request.user = row.user
        return row.user


api = NinjaAPI(
    title="Flowdash API",
    version="1",
    description="Manage SNS topics, SQS queues and subscriptions; publish, send and receive.",
    auth=[TokenAuth(), django_auth],
    urls_namespace="api",
)


# Schemas ---------------------------------------------------------------------------


class ErrorDetail(Schema):
    code: str
    message: str
    field: str | None = None


class ErrorOut(Schema):
    error: ErrorDetail


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


class TopologyOut(Schema):
    topics: list[TopicOut]
    queues: list[QueueOut]
    subscriptions: list[SubscriptionOut]


class TopicIn(Schema):
    name: str
    fifo: bool = False
    content_based_deduplication: bool = False


class QueueIn(Schema):
    name: str
    fifo: bool = False
    content_based_deduplication: bool = False
    visibility_timeout: int | None = None
    delay_seconds: int | None = None
    retention_seconds: int | None = None
    receive_wait_seconds: int | None = None
    dead_letter_queue_arn: str | None = None
    new_dead_letter_queue: str | None = None
    max_receive_count: int | None = None


class SubscriptionIn(Schema):
    topic_arn: str
    protocol: Literal["sqs", "http", "https", "email", "email-json", "sms"]
    endpoint: str = Field(description="Queue ARN for sqs; URL, email address or phone number")
    filter_policy: str | dict[str, Any] | None = None
    filter_policy_scope: Literal["MessageAttributes", "MessageBody"] = "MessageAttributes"
    raw_message_delivery: bool = False


class SubscriptionUpdateIn(Schema):
    filter_policy: str | dict[str, Any] | None = None
    filter_policy_scope: Literal["MessageAttributes", "MessageBody"] = "MessageAttributes"
    raw_message_delivery: bool | None = None


class AttributeIn(Schema):
    name: str
    type: str = "String"
    value: str = Field(description="Binary values as base64")


class PublishIn(Schema):
    body: str
    subject: str | None = None
    attributes: list[AttributeIn] = []
    message_group_id: str | None = None
    deduplication_id: str | None = None


class SendIn(Schema):
    body: str
    attributes: list[AttributeIn] = []
    delay_seconds: int | None = None
    message_group_id: str | None = None
    deduplication_id: str | None = None


class PublishOut(Schema):
    message_id: str
    sequence_number: str | None


class PublishEntryIn(Schema):
    id: str = Field(description="Unique in the batch: 1-80 letters, digits, '-' and '_'")
    body: str
    subject: str | None = None
    attributes: list[AttributeIn] = []
    message_group_id: str | None = None
    deduplication_id: str | None = None


class SendEntryIn(Schema):
    id: str = Field(description="Unique in the batch: 1-80 letters, digits, '-' and '_'")
    body: str
    attributes: list[AttributeIn] = []
    delay_seconds: int | None = None
    message_group_id: str | None = None
    deduplication_id: str | None = None


class PublishBatchIn(Schema):
    entries: list[PublishEntryIn] = Field(description="1 to 10 messages")


class SendBatchIn(Schema):
    entries: list[SendEntryIn] = Field(description="1 to 10 messages")


class BatchSentOut(Schema):
    id: str
    message_id: str
    sequence_number: str | None


class BatchFailedOut(Schema):
    id: str
    code: str
    message: str
    field: str | None
    sender_fault: bool


class BatchOut(Schema):
    successful: list[BatchSentOut]
    failed: list[BatchFailedOut]


class ReceiveIn(Schema):
    max_messages: int = 10
    visibility_timeout: int | None = 30
    wait_seconds: int = Field(0, ge=0, le=20)


class EnvelopeOut(Schema):
    message_id: str
    topic_arn: str
    message: str
    type: str
    subject: str | None
    timestamp: str | None
    message_attributes: dict[str, dict[str, str]]


class ReceivedOut(Schema):
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_timestamp: int | None
    message_group_id: str | None
    message_attributes: list[AttributeIn]
    envelope: EnvelopeOut | None


class ReceiptIn(Schema):
    receipt_handle: str


def _attributes(items: list[AttributeIn]) -> list[MessageAttribute]:
    return [MessageAttribute(name=a.name, type=a.type, value=a.value) for a in items]


#: The account id moto gives every resource unless told otherwise.
MOTO_ACCOUNT = "123456789012"

ERRORS = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 429: ErrorOut,
          500: ErrorOut, 502: ErrorOut, 503: ErrorOut}  # fmt: skip


# Endpoints -------------------------------------------------------------------------


@api.get("/topology", response={200: TopologyOut, **ERRORS}, tags=["topology"])
def topology(request: HttpRequest) -> Any:
    return asdict(topology_get(connection()))


@api.get("/topics", response={200: list[TopicOut], **ERRORS}, tags=["topics"])
def topic_list(request: HttpRequest) -> Any:
    return resources.topic_list(connection())


@api.post("/topics", response={201: TopicOut, **ERRORS}, tags=["topics"])
def topic_create(request: HttpRequest, payload: TopicIn) -> Any:
    permissions.staff_check(request.user)
    return Status(201, resources.topic_create(connection(), **payload.dict()))


@api.get("/topics/{arn}", response={200: TopicOut, **ERRORS}, tags=["topics"])
def topic_get(request: HttpRequest, arn: str) -> Any:
    return resources.topic_get(connection(), arn=arn)


@api.delete("/topics/{arn}", response={204: None, **ERRORS}, tags=["topics"])
def topic_delete(request: HttpRequest, arn: str) -> Any:
    permissions.staff_check(request.user)
    resources.topic_delete(connection(), arn=arn)
    return Status(204, None)


@api.post("/topics/{arn}/publish", response={200: PublishOut, **ERRORS}, tags=["messages"])
def topic_publish(request: HttpRequest, arn: str, payload: PublishIn) -> Any:
    permissions.publish_check(request.user)
    return publishing.topic_publish(
        connection(),
        topic_arn=arn,
        body=payload.body,
        subject=payload.subject,
        attributes=_attributes(payload.attributes),
        message_group_id=payload.message_group_id,
        deduplication_id=payload.deduplication_id,
    )


@api.post("/topics/{arn}/publish-batch", response={200: BatchOut, **ERRORS}, tags=["messages"])
def topic_publish_batch(request: HttpRequest, arn: str, payload: PublishBatchIn) -> Any:
    """PublishBatch: up to 10 messages in one request. Answers 200 with each entry under
    ``successful`` or ``failed`` (with the reason), as SNS does; the batch as a whole
    (count, ids, total size) is checked first and refused with a 400."""
    permissions.publish_check(request.user, count=min(len(payload.entries), BATCH_MAX))
    entries = [
        BatchEntry(
            id=e.id,
            body=e.body,
            subject=e.subject,
            attributes=tuple(_attributes(e.attributes)),
            message_group_id=e.message_group_id,
            deduplication_id=e.deduplication_id,
        )
        for e in payload.entries
    ]
    return publishing.topic_publish_batch(connection(), topic_arn=arn, entries=entries)


@api.get("/queues", response={200: list[QueueOut], **ERRORS}, tags=["queues"])
def queue_list(request: HttpRequest) -> Any:
    return resources.queue_list(connection())


@api.post("/queues", response={201: QueueOut, **ERRORS}, tags=["queues"])
def queue_create(request: HttpRequest, payload: QueueIn) -> Any:
    permissions.staff_check(request.user)
    return Status(201, resources.queue_create(connection(), **payload.dict()))


@api.get("/queues/{arn}", response={200: QueueOut, **ERRORS}, tags=["queues"])
def queue_get(request: HttpRequest, arn: str) -> Any:
    conn = connection()
    return resources.queue_get(conn, url=resources.queue_url(conn, arn=arn))


@api.delete("/queues/{arn}", response={204: None, **ERRORS}, tags=["queues"])
def queue_delete(request: HttpRequest, arn: str) -> Any:
    permissions.staff_check(request.user)
    conn = connection()
    resources.queue_delete(conn, url=resources.queue_url(conn, arn=arn))
    return Status(204, None)


@api.post("/queues/{arn}/purge", response={204: None, **ERRORS}, tags=["queues"])
def queue_purge(request: HttpRequest, arn: str) -> Any:
    permissions.staff_check(request.user)
    conn = connection()
    resources.queue_purge(conn, url=resources.queue_url(conn, arn=arn))
    return Status(204, None)


@api.post("/queues/{arn}/messages", response={200: PublishOut, **ERRORS}, tags=["messages"])
def queue_send(request: HttpRequest, arn: str, payload: SendIn) -> Any:
    permissions.publish_check(request.user)
    return _to_queue(
        arn,
        lambda conn, url: publishing.queue_send(
            conn,
            queue_url=url,
            body=payload.body,
            attributes=_attributes(payload.attributes),
            delay_seconds=payload.delay_seconds,
            message_group_id=payload.message_group_id,
            deduplication_id=payload.deduplication_id,
        ),
    )


@api.post("/queues/{arn}/messages/batch", response={200: BatchOut, **ERRORS}, tags=["messages"])
def queue_send_batch(request: HttpRequest, arn: str, payload: SendBatchIn) -> Any:
    """SendMessageBatch: up to 10 messages in one request. Answers 200 with each entry
    under ``successful`` or ``failed`` (with the reason), as SQS does; the batch as a
    whole (count, ids, total size) is checked first and refused with a 400."""
    permissions.publish_check(request.user, count=min(len(payload.entries), BATCH_MAX))
    entries = [
        BatchEntry(
            id=e.id,
            body=e.body,
            attributes=tuple(_attributes(e.attributes)),
            delay_seconds=e.delay_seconds,
            message_group_id=e.message_group_id,
            deduplication_id=e.deduplication_id,
        )
        for e in payload.entries
    ]
    return _to_queue(
        arn, lambda conn, url: publishing.queue_send_batch(conn, queue_url=url, entries=entries)
    )


def _to_queue(arn: str, send: Callable[[Connection, str], T]) -> T:
    """Send to a queue named by ARN. Its URL is cached (a GetQueueUrl per message doubled
    the cost of a send); if the queue has gone, the lookup is repeated uncached, so a
    deleted queue answers exactly as before (404) and a re-created one gets the message:
    the failed send reached no queue, so sending again cannot duplicate it."""
    conn = connection()
    url = resources.queue_url_cached(conn, arn=arn)
    try:
        return send(conn, url)
    except ResourceNotFound:
        resources.resource_cache.forget(conn, arn, url)
        return send(conn, resources.queue_url_cached(conn, arn=arn))


@api.post("/queues/{arn}/receive", response={200: list[ReceivedOut], **ERRORS}, tags=["messages"])
def queue_receive(request: HttpRequest, arn: str, payload: ReceiveIn) -> Any:
    """A real ReceiveMessage: the messages are hidden for ``visibility_timeout`` seconds
    and their receive count rises. Delete them, or return them with ``release``."""
    permissions.staff_check(request.user)
    conn = connection()
    return publishing.queue_receive(
        conn, queue_url=resources.queue_url(conn, arn=arn), **payload.dict()
    )


@api.post("/queues/{arn}/messages/delete", response={204: None, **ERRORS}, tags=["messages"])
def message_delete(request: HttpRequest, arn: str, payload: ReceiptIn) -> Any:
    permissions.staff_check(request.user)
    conn = connection()
    publishing.message_delete(
        conn, queue_url=resources.queue_url(conn, arn=arn), receipt_handle=payload.receipt_handle
    )
    return Status(204, None)


@api.post("/queues/{arn}/messages/release", response={204: None, **ERRORS}, tags=["messages"])
def message_release(request: HttpRequest, arn: str, payload: ReceiptIn) -> Any:
    permissions.staff_check(request.user)
    conn = connection()
    publishing.message_release(
        conn, queue_url=resources.queue_url(conn, arn=arn), receipt_handle=payload.receipt_handle
    )
    return Status(204, None)


@api.get("/subscriptions", response={200: list[SubscriptionOut], **ERRORS}, tags=["subscriptions"])
def subscription_list(request: HttpRequest, topic_arn: str | None = None) -> Any:
    return subscriptions.subscription_list(connection(), topic_arn=topic_arn)


@api.post("/subscriptions", response={201: SubscriptionOut, **ERRORS}, tags=["subscriptions"])
def subscription_create(request: HttpRequest, payload: SubscriptionIn) -> Any:
    permissions.staff_check(request.user)
    return Status(201, subscriptions.subscription_create(connection(), **payload.dict()))


@api.patch(
    "/subscriptions/{arn}", response={200: SubscriptionOut, **ERRORS}, tags=["subscriptions"]
)
def subscription_update(request: HttpRequest, arn: str, payload: SubscriptionUpdateIn) -> Any:
    permissions.staff_check(request.user)
    return subscriptions.subscription_update(connection(), arn=arn, **payload.dict())


@api.delete("/subscriptions/{arn}", response={204: None, **ERRORS}, tags=["subscriptions"])
def subscription_delete(request: HttpRequest, arn: str) -> Any:
    permissions.staff_check(request.user)
    subscriptions.subscription_delete(connection(), arn=arn)
    return Status(204, None)


class WorkerSpecIn(Schema):
    count: int = 1
    min_ms: int = 500
    max_ms: int = 500
    failure_rate: float = 0.0
    poison_marker: str = "poison"
    batch_size: int = 10


class WorkerSettingOut(WorkerSpecIn):
    queue_arn: str


class TraceOut(Schema):
    trace_id: str
    events: list[dict[str, Any]]


@api.put("/queues/{arn}/workers", response={200: WorkerSettingOut, **ERRORS}, tags=["workers"])
def workers_set(request: HttpRequest, arn: str, payload: WorkerSpecIn) -> Any:
    """Run ``count`` simulated workers on the queue (0 stops them)."""
    permissions.staff_check(request.user)
    conn = connection()
    resources.queue_url(conn, arn=arn)  # 404 for a queue that does not exist
    return services.worker_settings_set(queue_arn=arn, spec=WorkerSpec(**payload.dict()))


class BurstIn(Schema):
    count: int = Field(10, description="How many messages (1-10,000)")
    rate: float = Field(5.0, description="Messages per second (0.1-1,000)")
    body_template: str = Field("message {{n}}", description="{{n}} is the message's number")
    attributes: list[AttributeIn] = []
    message_group_id: str | None = None


class BurstOut(Schema):
    accepted: int


class PolicyPreviewIn(Schema):
    filter_policy: str | dict[str, Any]
    filter_policy_scope: Literal["MessageAttributes", "MessageBody"] = "MessageAttributes"


class PolicyPreviewOut(Schema):
    trace_id: str
    body: str
    attributes: dict[str, dict[str, str]]
    matched: bool
    reason: str | None


def _burst(payload: BurstIn, **target: str) -> Any:
    burst = Burst(
        count=payload.count, rate=payload.rate, body_template=payload.body_template,
        attributes=tuple(_attributes(payload.attributes)),
        message_group_id=payload.message_group_id, **target,
    ).validate()  # fmt: skip
    command_send(
        "burst.start", burst={**asdict(burst), "attributes": [asdict(a) for a in burst.attributes]}
    )
    return Status(202, {"accepted": burst.count})


@api.post("/topics/{arn}/burst", response={202: BurstOut, **ERRORS}, tags=["messages"])
def topic_burst(request: HttpRequest, arn: str, payload: BurstIn) -> Any:
    """Publish ``count`` messages at ``rate`` per second, in the background."""
    permissions.staff_check(request.user)
    resources.topic_get(connection(), arn=arn)
    return _burst(payload, topic_arn=arn)


@api.post("/queues/{arn}/burst", response={202: BurstOut, **ERRORS}, tags=["messages"])
def queue_burst(request: HttpRequest, arn: str, payload: BurstIn) -> Any:
    """Send ``count`` messages at ``rate`` per second straight to the queue, in the background."""
    permissions.staff_check(request.user)
    return _burst(payload, queue_url=resources.queue_url(connection(), arn=arn))


@api.post(
    "/subscriptions/{arn}/preview",
    response={200: list[PolicyPreviewOut], **ERRORS},
    tags=["subscriptions"],
)
def subscription_preview(request: HttpRequest, arn: str, payload: PolicyPreviewIn) -> Any:
    """Which of the topic's last published messages this policy would let through."""
    sub = subscriptions.subscription_get(connection(), arn=arn)
    return selectors.policy_preview(
        topic_arn=sub.topic_arn, policy=payload.filter_policy, scope=payload.filter_policy_scope
    )


class InspectedOut(Schema):
    message_id: str
    body: str
    state: str
    receive_count: int
    sent_timestamp: int | None
    visible_at: int | None
    delayed_until: int | None
    group_id: str | None
    deduplication_id: str | None
    attributes: dict[str, dict[str, str]]
    envelope: EnvelopeOut | None


class QueueViewOut(Schema):
    kind: str
    queue_arn: str
    fifo: bool
    now_ms: int
    counts: dict[str, int]
    messages: list[InspectedOut]
    max_receive_count: int | None
    dead_letter_arn: str | None
    lanes: dict[str, list[str]]
    locked_groups: list[str]
    note: str


class RedriveIn(Schema):
    source_arn: str
    limit: int | None = Field(
        None, ge=1, le=10_000, description="at most this many (all when empty)"
    )


class RedriveOut(Schema):
    moved: int
    resent_skipped: int
    remaining: int


def _queue(arn: str) -> Any:
    conn = connection()
    return resources.queue_get(conn, url=resources.queue_url(conn, arn=arn))


@api.get("/queues/{arn}/inspect", response={200: QueueViewOut, **ERRORS}, tags=["inspect"])
def queue_inspect(request: HttpRequest, arn: str) -> Any:
    """Every message in the queue without receiving it, where the backend allows (``kind``
    says which view this is); on ``receive`` backends the list is empty, see ``note``."""
    return inspection.queue_inspect(connection(), queue=_queue(arn))


@api.post(
    "/queues/{arn}/receive-and-return", response={200: QueueViewOut, **ERRORS}, tags=["inspect"]
)
def queue_receive_and_return(request: HttpRequest, arn: str) -> Any:
    """Look by receiving (VisibilityTimeout 0): each message's receive count rises."""
    permissions.staff_check(request.user)
    return inspection.queue_receive_and_return(connection(), queue=_queue(arn))


@api.get(
    "/queues/{arn}/dead-letter-sources", response={200: list[QueueOut], **ERRORS}, tags=["inspect"]
)
def queue_dead_letter_sources(request: HttpRequest, arn: str) -> Any:
    return resources.dead_letter_sources(connection(), queue=_queue(arn))


@api.post("/queues/{arn}/redrive", response={200: RedriveOut, **ERRORS}, tags=["inspect"])
def queue_redrive(request: HttpRequest, arn: str, payload: RedriveIn) -> Any:
    """Move messages from this dead-letter queue back to ``source_arn``, each exactly once.
    Call with a small ``limit`` repeatedly to show progress."""
    permissions.staff_check(request.user)
    dead_letter = _queue(arn)
    result = services.queue_redrive(
        dead_letter=dead_letter, source=_queue(payload.source_arn), limit=payload.limit
    )
    remaining = _queue(arn).depth.visible
    return {"moved": result.moved, "resent_skipped": result.resent_skipped, "remaining": remaining}


class HttpDeliveryOut(Schema):
    id: int
    received_at: datetime
    message_type: str
    message_id: str
    topic_arn: str
    subject: str
    body: str
    confirmed: bool


@api.get("/deliveries", response={200: list[HttpDeliveryOut], **ERRORS}, tags=["inspect"])
def http_deliveries(request: HttpRequest, after_id: int = 0) -> Any:
    """What SNS POSTed to Flowdash's own HTTP receiver (``/hooks/sns/``), newest first."""
    return list(HttpDelivery.objects.filter(id__gt=after_id)[:100])


class SmsIn(Schema):
    phone_number: str
    body: str


class SentOut(Schema):
    message_id: str


class PlatformApplicationIn(Schema):
    name: str
    platform: str = "GCM"


class PlatformEndpointIn(Schema):
    application_arn: str
    token: str


class PushIn(Schema):
    endpoint_arn: str
    body: str


class ArnOut(Schema):
    arn: str


class OutboxCard(Schema):
    kind: str
    to: str
    trace_id: str
    body: str
    ts: float | None
    source: str


@api.post("/sms", response={200: SentOut, **ERRORS}, tags=["push"])
def sms_send(request: HttpRequest, payload: SmsIn) -> Any:
    """Text a phone number straight from SNS (recorded, not sent, on the embedded backend)."""
    permissions.staff_check(request.user)
    return {"message_id": push.sms_send(connection(), **payload.dict())}


@api.post("/push/applications", response={201: ArnOut, **ERRORS}, tags=["push"])
def platform_application_create(request: HttpRequest, payload: PlatformApplicationIn) -> Any:
    permissions.staff_check(request.user)
    return Status(201, {"arn": push.platform_application_create(connection(), **payload.dict())})


@api.post("/push/endpoints", response={201: ArnOut, **ERRORS}, tags=["push"])
def platform_endpoint_create(request: HttpRequest, payload: PlatformEndpointIn) -> Any:
    permissions.staff_check(request.user)
    return Status(201, {"arn": push.platform_endpoint_create(connection(), **payload.dict())})


@api.post("/push/send", response={200: SentOut, **ERRORS}, tags=["push"])
def push_send(request: HttpRequest, payload: PushIn) -> Any:
    permissions.staff_check(request.user)
    return {"message_id": push.push_send(connection(), **payload.dict())}


@api.get("/outbox", response={200: list[OutboxCard], **ERRORS}, tags=["push"])
def outbox(request: HttpRequest) -> Any:
    """What SNS sent outside SQS (SMS, email, HTTP, mobile push), newest first, for cards."""
    conn = connection()
    records: list[dict[str, str]] = []
    if conn.backend == "embedded":
        from messaging.embedded.contents import moto_sns_outbox

        records = moto_sns_outbox(account=MOTO_ACCOUNT, region=conn.config.region)
    return selectors.outbox_recent(embedded_records=records)


@api.get("/traces/{trace_id}", response={200: TraceOut, **ERRORS}, tags=["traces"])
def trace_get(request: HttpRequest, trace_id: str) -> Any:
    """A message's journey: published, delivered or filtered per subscription,
    received (by which worker, how often), processed, failed or dead-lettered."""
    events = selectors.trace_get(trace_id=trace_id)
    if not events:
        raise ResourceNotFound(f"No flow events for trace {trace_id!r}.", field="trace_id")
    return {"trace_id": trace_id, "events": events}


# Errors: one shape for all ---------------------------------------------------------


def error_response(
    request: HttpRequest, status: int, code: str, message: str, field: str | None = None
) -> HttpResponse:
    return api.create_response(
        request, {"error": {"code": code, "message": message, "field": field}}, status=status
    )


@api.exception_handler(FlowdashError)
def flowdash_error(request: HttpRequest, exc: FlowdashError) -> HttpResponse:
    if isinstance(exc, BackendFailed):  # the backend's answer (the cause) is for the log only
        logger.warning("Backend failed: %s %s", request.method, request.path, exc_info=exc)
    return error_response(request, exc.status, exc.code, exc.message, exc.field)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    loc = [str(part) for part in first.get("loc", []) if part not in ("body", "payload", "query")]
    field = loc[0] if loc else None
    message = first.get("msg", "Invalid input")
    if first.get("type") == "json_invalid":
        message = "The request body is not valid JSON."
    return error_response(request, 400, "InvalidRequest", message, field)


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        request, 401, "Unauthorized", "Log in, or send 'Authorization: Bearer <token>'."
    )


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        return error_response(request, 400, "InvalidJSON", "The request body is not valid JSON.")
    return error_response(request, exc.status_code, "HttpError", str(exc))


@api.exception_handler(Exception)
def unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Last resort (replaces ninja's, which re-raises into Django's HTML 500 page): anything
    else that escapes a view, botocore's exceptions included, still gets the one shape."""
    # Django answers these with 403 and 400 itself; keep their status, not their text.
    if isinstance(exc, PermissionDenied):
        return error_response(request, 403, "Forbidden", "Permission denied.")
    if isinstance(exc, SuspiciousOperation):
        return error_response(request, 400, "BadRequest", "The request was refused.")
    logger.error("Unexpected error: %s %s", request.method, request.path, exc_info=exc)
    return error_response(request, 500, "InternalError", UNEXPECTED_ERROR)


api.add_router("/classroom/", "dashboard.classroom.api.router")
