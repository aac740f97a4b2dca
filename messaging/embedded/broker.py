"""The broker reports: hooks in the embedded moto that tell the observer every change.

Flowdash runs moto in its own process, so instead of watching it from outside
(tap queues, depth samples, topology polls) it is told, from inside, about every
operation of every client, over HTTP or in process, at the moment moto performs
it: resources created, changed, deleted or purged (mobile push's platform
applications and device endpoints among them); publications and their fanout
(with the filter decision actually taken, see ``filtering``); sends, FIFO
deduplication, receives, deletes, visibility changes, and each move to a
dead-letter queue as moto makes it (during a later ReceiveMessage, as SQS does).

The hooks run in moto's request threads. Each does O(1) work beyond moto's own:
it reads values already at hand into a ``messaging.reports`` record and hands it
to the sink, which the observer bounds (``messaging.observer``); nothing here
blocks or formats. With no sink attached the hooks only cost a function call.

Who made a request is read from its user agent by a WSGI middleware around
moto's app (``client_identity``); Flowdash's own clients add ``flowdash`` to theirs.

Every hook is a class attribute swap kept with its original, applied only to the
moto versions in ``version``, and reversible (``broker_revert``) for tests.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..reports import (
    FLOWDASH_CLIENT,
    CopyDelivered,
    CopyFailed,
    CopyFiltered,
    MessageDeadLettered,
    MessageDeduplicated,
    MessageDeleted,
    MessageReceived,
    MessageSent,
    Report,
    ResourceReport,
    TopicPublished,
    VisibilitySet,
    report_attributes,
)
from ..resources import Depth
from .version import moto_supported

logger = logging.getLogger(__name__)

Sink = Callable[[Report], None]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_sink: Sink | None = None
_local = threading.local()
_originals: list[tuple[Any, str, Any]] = []


def sink_set(sink: Sink | None) -> None:
    """Where reports go from now on (None: nowhere). One sink per process."""
    global _sink
    _sink = sink


def _report(report: Report) -> None:
    sink = _sink
    if sink is not None:
        sink(report)
    for listener in extra_listeners:
        listener(report)


# --- Extra listeners
#: Called with every report after the sink, in moto's request thread, whether or not a
#: sink is set. The sink is the observer's alone; these are for others that only need to
#: know that something changed (``persistence`` marks its state dirty). Each must be
#: O(1) and never raise. Append and remove; nothing else.
extra_listeners: list[Sink] = []


def _client() -> str | None:
    return getattr(_local, "client", None)


def client_identity(user_agent: str) -> str:
    """A client's name from its user agent: ``flowdash`` for Flowdash's own clients,
    else the first product token (``aws-cli/1.42.3``, ``Boto3/1.44.8``); for a
    ``Mozilla/5.0 (compatible; X)`` one, X (kombu's receives: ``pycurl``)."""
    tokens = user_agent.split()
    if FLOWDASH_CLIENT in tokens:
        return FLOWDASH_CLIENT
    if not tokens:
        return "unknown client"
    if tokens[0].startswith("Mozilla/") and "(compatible;" in user_agent:
        compatible = user_agent.split("(compatible;", 1)[1].split(")", 1)[0].split(";")[0]
        if compatible.strip():
            return compatible.strip()[:80]
    return tokens[0][:80]


class ClientMiddleware:
    """Wraps moto's WSGI app: names the client of each request for the hooks."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        _local.client = client_identity(environ.get("HTTP_USER_AGENT", ""))
        try:
            return self.app(environ, start_response)
        finally:
            _local.client = None


#: Delivers a topic's copy to an ``application`` subscription (mobile push), set by
#: ``push`` (stock moto delivers nothing there). Returns the outcome the hook reports.
application_delivery: Callable[..., Any] | None = None


# --- SNS


def _sns_hooks(sns: Any) -> list[tuple[Any, str, Any]]:
    backend, topic_cls = sns.SNSBackend, sns.Topic
    create_topic = backend.__dict__["create_topic"]
    delete_topic = backend.__dict__["delete_topic"]
    subscribe = backend.__dict__["subscribe"]
    unsubscribe = backend.__dict__["unsubscribe"]
    set_sub_attr = backend.__dict__["set_subscription_attributes"]
    set_topic_attr = backend.__dict__["set_topic_attribute"]
    create_app = backend.__dict__["create_platform_application"]
    delete_app = backend.__dict__["delete_platform_application"]
    create_endpoint = backend.__dict__["create_platform_endpoint"]
    set_endpoint_attr = backend.__dict__["set_endpoint_attributes"]
    delete_endpoint = backend.__dict__["delete_endpoint"]

    def _create_topic(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        before = len(self.topics)
        topic = create_topic(self, name, *args, **kwargs)
        if len(self.topics) > before:
            _resource("topic", "created", topic.arn)
        return topic

    def _delete_topic(self: Any, arn: str) -> None:
        subs = [s.arn for s in list(self.subscriptions.values()) if s.topic.arn == arn]
        existed = arn in self.topics
        delete_topic(self, arn)
        for sub_arn in subs:
            _resource("subscription", "deleted", sub_arn)
        if existed:
            _resource("topic", "deleted", arn)

    def _subscribe(self: Any, topic_arn: str, endpoint: str, protocol: str) -> Any:
        before = len(self.subscriptions)
        sub = subscribe(self, topic_arn, endpoint, protocol)
        if len(self.subscriptions) > before:
            _resource("subscription", "created", sub.arn)
        return sub

    def _unsubscribe(self: Any, subscription_arn: str) -> None:
        existed = subscription_arn in self.subscriptions
        unsubscribe(self, subscription_arn)
        if existed:
            _resource("subscription", "deleted", subscription_arn)

    def _set_subscription_attributes(self: Any, arn: str, name: str, value: Any) -> None:
        set_sub_attr(self, arn, name, value)
        _resource("subscription", "changed", arn)

    def _set_topic_attribute(self: Any, topic_arn: str, *args: Any) -> None:
        set_topic_attr(self, topic_arn, *args)
        _resource("topic", "changed", topic_arn)

    # Mobile push: applications and their device endpoints are part of the picture.
    def _create_platform_application(self: Any, name: str, *args: Any) -> Any:
        before = len(self.applications)
        app = create_app(self, name, *args)
        if len(self.applications) > before:
            _resource("application", "created", app.arn)
        return app

    def _delete_platform_application(self: Any, arn: str) -> None:
        endpoints = [
            e.arn for e in list(self.platform_endpoints.values()) if e.application.arn == arn
        ]
        delete_app(self, arn)
        for endpoint_arn in endpoints:
            _resource("endpoint", "deleted", endpoint_arn)
        _resource("application", "deleted", arn)

    def _create_platform_endpoint(self: Any, application: Any, *args: Any) -> Any:
        before = len(self.platform_endpoints)
        endpoint = create_endpoint(self, application, *args)
        if len(self.platform_endpoints) > before:
            _resource("endpoint", "created", endpoint.arn)
        return endpoint

    def _set_endpoint_attributes(self: Any, arn: str, attributes: Any) -> Any:
        endpoint = set_endpoint_attr(self, arn, attributes)
        _resource("endpoint", "changed", arn)
        return endpoint

    def _delete_endpoint(self: Any, arn: str) -> None:
        existed = arn in self.platform_endpoints
        delete_endpoint(self, arn)
        if existed:
            _resource("endpoint", "deleted", arn)

    def _topic_publish(
        self: Any,
        message: str,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        message_structure: str | None = None,
    ) -> str:
        # Replaces Topic.publish: the same fanout, reported per subscription. A copy
        # that cannot be handed over (an HTTP endpoint down, a queue deleted) is
        # reported and the others still go out, as on SNS, where stock moto failed
        # the whole Publish.
        message_id = str(sns.mock_random.uuid4())
        if deduplication_id is None and self.fifo_topic and _true(self.content_based_deduplication):
            # As SNS does: a FIFO topic's content-based deduplication id is the body's
            # SHA-256, passed on to its FIFO queues, which then need none of their own.
            # Stock moto passed none, and queues without it refused every copy.
            deduplication_id = hashlib.sha256(message.encode()).hexdigest()
        # Every subscription: stock moto fans out to the first page of ListSubscriptions-
        # ByTopic only (100), so a topic's 101st subscriber never got anything.
        subscriptions = self.sns_backend._get_topic_subscriptions(self)
        now, client = time.time(), _client()
        _report(
            TopicPublished(
                ts=now, client=client, topic_arn=self.arn, message_id=message_id,
                subject=subject, body=message, attributes=report_attributes(message_attributes),
                group_id=group_id,
            )
        )  # fmt: skip
        for sub in subscriptions:
            _local.delivering = (self.arn, message_id, sub.arn)
            deliver = application_delivery if sub.protocol == "application" else None
            try:
                if deliver is not None:
                    decision = deliver(
                        sub, message, message_id, message_attributes=message_attributes,
                        message_structure=message_structure,
                    )  # fmt: skip
                else:
                    decision = sub.publish(
                        message, message_id, subject=subject,
                        message_attributes=message_attributes, group_id=group_id,
                        deduplication_id=deduplication_id, message_structure=message_structure,
                    )  # fmt: skip
            except Exception as exc:
                logger.warning("embedded SNS could not deliver to %s: %r", sub.endpoint, exc)
                _report(
                    CopyFailed(
                        ts=time.time(), client=client, topic_arn=self.arn, message_id=message_id,
                        subscription_arn=sub.arn, endpoint=sub.endpoint,
                        reason=f"{type(exc).__name__}: {exc}"[:300],
                    )
                )  # fmt: skip
                continue
            finally:
                _local.delivering = None
            if decision is not None and not decision.matched:
                _report(
                    CopyFiltered(
                        ts=time.time(), client=client, topic_arn=self.arn, message_id=message_id,
                        subscription_arn=sub.arn, protocol=sub.protocol, endpoint=sub.endpoint,
                        reason=decision.reason or "filtered",
                    )
                )  # fmt: skip
            elif sub.protocol != "sqs" and getattr(decision, "delivered", True):
                # (A disabled device endpoint gets nothing and nothing is reported, as on
                # SNS; ``push`` says so with ``delivered`` and names what a device got.)
                _report(
                    CopyDelivered(
                        ts=time.time(), client=client, topic_arn=self.arn, message_id=message_id,
                        subscription_arn=sub.arn, protocol=sub.protocol, endpoint=sub.endpoint,
                        body=getattr(decision, "body", None),
                    )
                )  # fmt: skip
        self.sent_notifications.append((message_id, message, subject, message_attributes, group_id))
        return message_id

    return [
        (backend, "create_topic", _create_topic),
        (backend, "delete_topic", _delete_topic),
        (backend, "subscribe", _subscribe),
        (backend, "unsubscribe", _unsubscribe),
        (backend, "set_subscription_attributes", _set_subscription_attributes),
        (backend, "set_topic_attribute", _set_topic_attribute),
        (topic_cls, "publish", _topic_publish),
        (backend, "create_platform_application", _create_platform_application),
        (backend, "delete_platform_application", _delete_platform_application),
        (backend, "create_platform_endpoint", _create_platform_endpoint),
        (backend, "set_endpoint_attributes", _set_endpoint_attributes),
        (backend, "delete_endpoint", _delete_endpoint),
    ]


# --- SQS


def _sqs_hooks(sqs: Any) -> list[tuple[Any, str, Any]]:
    backend, queue_cls = sqs.SQSBackend, sqs.Queue
    create_queue = backend.__dict__["create_queue"]
    delete_queue = backend.__dict__["delete_queue"]
    set_queue_attributes = backend.__dict__["set_queue_attributes"]
    purge_queue = backend.__dict__["purge_queue"]
    send_message = backend.__dict__["send_message"]
    receive_message = backend.__dict__["receive_message"]
    delete_message = backend.__dict__["delete_message"]
    change_visibility = backend.__dict__["change_message_visibility"]
    add_message = queue_cls.__dict__["add_message"]
    dedup_seconds = sqs.DEDUPLICATION_TIME_IN_SECONDS

    def _create_queue(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        existed = name in self.queues
        queue = create_queue(self, name, *args, **kwargs)
        if not existed:
            _resource("queue", "created", queue.queue_arn)
        return queue

    def _delete_queue(self: Any, queue_name: str) -> None:
        arn = self.get_queue(queue_name).queue_arn
        delete_queue(self, queue_name)
        _resource("queue", "deleted", arn)

    def _set_queue_attributes(self: Any, queue_name: str, attributes: Any) -> Any:
        queue = set_queue_attributes(self, queue_name, attributes)
        _resource("queue", "changed", queue.queue_arn)
        return queue

    def _purge_queue(self: Any, queue_name: str) -> None:
        purge_queue(self, queue_name)
        _resource("queue", "purged", self.get_queue(queue_name).queue_arn)

    def _send_message(self: Any, queue_name: str, message_body: str, *args: Any, **kw: Any) -> Any:
        _local.duplicate = None
        message = send_message(self, queue_name, message_body, *args, **kw)
        queue = self.get_queue(queue_name)
        duplicate, _local.duplicate = _local.duplicate, None
        via = getattr(_local, "delivering", None)
        if duplicate is not None:
            _report(
                MessageDeduplicated(
                    ts=time.time(), client=_client(), queue_arn=queue.queue_arn,
                    message_id=message.id, duplicate_of=duplicate.id,
                    deduplication_id=message.deduplication_id or "", via_topic=via,
                )
            )  # fmt: skip
            return message
        _report(
            MessageSent(
                ts=time.time(), client=_client(), queue_arn=queue.queue_arn,
                message_id=message.id, body=message.body,
                attributes=report_attributes(message.message_attributes),
                group_id=message.group_id,
                delay_seconds=max(0, int((message.delayed_until - message.sent_timestamp) / 1000)),
                retention_seconds=int(queue.message_retention_period or 345_600),
                via_topic=via,
            )
        )  # fmt: skip
        return message

    def _add_message(self: Any, message: Any) -> None:
        receiving = getattr(_local, "receiving", None)
        if receiving is not None and receiving.dead_letter_queue is self:
            # ReceiveMessage is moving a message past maxReceiveCount to this DLQ.
            add_message(self, message)
            _report(
                MessageDeadLettered(
                    ts=time.time(), client=_client(), queue_arn=receiving.queue_arn,
                    dead_letter_arn=self.queue_arn, message_id=message.id,
                    receive_count=message.approximate_receive_count,
                )
            )  # fmt: skip
            return
        if self.fifo_queue and message.deduplication_id:
            # The same test stock add_message makes before dropping a duplicate;
            # made here first to say which message it duplicates.
            for m in list(self._messages):
                if (
                    m.deduplication_id == message.deduplication_id
                    and (message.sent_timestamp - m.sent_timestamp) / 1000 < dedup_seconds
                ):
                    _local.duplicate = m
                    return
        add_message(self, message)

    def _receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        _local.receiving = queue
        try:
            messages = receive_message(self, queue_name, *args, **kwargs)
        finally:
            _local.receiving = None
        client, now = _client(), time.time()
        for m in messages:
            _report(
                MessageReceived(
                    ts=now, client=client, queue_arn=queue.queue_arn, message_id=m.id,
                    receipt_handle=m.receipt_handle, receive_count=m.approximate_receive_count,
                    visible_at_ms=m.visible_at, group_id=m.group_id,
                )
            )  # fmt: skip
        return messages

    def _delete_message(self: Any, queue_name: str, receipt_handle: str) -> None:
        delete_message(self, queue_name, receipt_handle)
        _report(
            MessageDeleted(
                ts=time.time(), client=_client(),
                queue_arn=self.get_queue(queue_name).queue_arn, receipt_handle=receipt_handle,
            )
        )  # fmt: skip

    def _change_message_visibility(
        self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        change_visibility(self, queue_name, receipt_handle, visibility_timeout)
        _report(
            VisibilitySet(
                ts=time.time(), client=_client(),
                queue_arn=self.get_queue(queue_name).queue_arn, receipt_handle=receipt_handle,
                timeout_seconds=int(visibility_timeout),
            )
        )  # fmt: skip

    return [
        (backend, "create_queue", _create_queue),
        (backend, "delete_queue", _delete_queue),
        (backend, "set_queue_attributes", _set_queue_attributes),
        (backend, "purge_queue", _purge_queue),
        (backend, "send_message", _send_message),
        (backend, "receive_message", _receive_message),
        (backend, "delete_message", _delete_message),
        (backend, "change_message_visibility", _change_message_visibility),
        (queue_cls, "add_message", _add_message),
    ]


def _true(value: Any) -> bool:
    """A moto attribute that is ``True`` or ``"true"``, as CreateTopic or SetTopicAttributes
    left it."""
    return value is True or str(value).lower() == "true"


def _resource(kind: str, action: str, arn: str) -> None:
    _report(ResourceReport(ts=time.time(), client=_client(), kind=kind, action=action, arn=arn))


# --- Reading the broker's state


def _queue(queue_arn: str) -> Any:
    from moto.sqs.models import sqs_backends

    parts = queue_arn.split(":")
    if len(parts) < 6:
        return None
    return sqs_backends[parts[4]][parts[3]].queues.get(parts[5])


def queue_depth(queue_arn: str) -> Depth | None:
    """A queue's exact counters, read from moto's memory with one clock read; None
    when the queue is gone. A scan of the queue (~0.2 ms at 3,000 messages)."""
    queue = _queue(queue_arn)
    if queue is None:
        return None
    now = time.time() * 1000
    visible = in_flight = delayed = 0
    for m in list(queue._messages):
        if now < m.delayed_until:
            delayed += 1
        elif now > m.visible_at:
            visible += 1
        else:
            in_flight += 1
    return Depth(visible=visible, in_flight=in_flight, delayed=delayed)


def queue_expire(queue_arn: str) -> tuple[list[tuple[str, int]], float | None]:
    """Delete the messages older than the queue's retention period, as SQS does (moto
    keeps them forever). Returns the expired ``(message id, receive count)`` pairs and
    when the next one is due (epoch seconds), or None when the queue holds none."""
    queue = _queue(queue_arn)
    if queue is None:
        return [], None
    retention_ms = int(queue.message_retention_period or 345_600) * 1000
    now = time.time() * 1000
    with queue._messages_lock:
        messages = queue._messages
        gone = [m for m in messages if m.sent_timestamp + retention_ms <= now]
        if gone:
            queue._messages = [m for m in messages if m.sent_timestamp + retention_ms > now]
            for m in gone:
                queue.pending_messages.discard(m)
        oldest = min((m.sent_timestamp for m in queue._messages), default=None)
    next_due = None if oldest is None else (oldest + retention_ms) / 1000
    return [(m.id, m.approximate_receive_count) for m in gone], next_due


# --- Applying


def broker_active() -> bool:
    return bool(_originals)


def broker_apply() -> bool:
    """Install the hooks in this process; idempotent; False on a moto they do not know.

    Apply before the fast path, which wraps Topic.publish again to bound its record.
    """
    if _originals:
        return True
    if not moto_supported("embedded observer"):
        return False
    from moto.sns import models as sns_models
    from moto.sqs import models as sqs_models

    for owner, name, hook in [*_sns_hooks(sns_models), *_sqs_hooks(sqs_models)]:
        _originals.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, hook)
    return True


def broker_revert() -> None:
    while _originals:
        owner, name, original = _originals.pop()
        setattr(owner, name, original)
