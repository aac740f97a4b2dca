"""Correlation: which published message a received SQS message is a copy of.

The trace id of a message is the MessageId SNS gave it (or SQS, for a message
sent straight to a queue). A copy delivered with the SNS envelope names that id
itself. A raw-delivery copy does not, so it is matched by its body against what
the topic's tap queue saw: per queue and body, tap observations are queued and
each new SQS message takes the oldest, so identical bodies published in a row
map in order. A repeat receive of the same SQS message keeps its trace. A raw
message whose publication the tap never saw (within ``RAW_WAIT_SECONDS``) is
treated as sent straight to the queue.

The first to see a publication, the tap or a worker that received a copy, emits
``published`` and the fanout (``delivered``/``filtered`` per subscription, as
AWS's filter rules decide); later sightings add nothing, so a journey always
starts with ``published`` whoever won the race. A device endpoint (an
``application`` subscription) that the last topology read showed disabled gets no
``delivered``: SNS sends it nothing, as the embedded observer reports it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .envelope import SnsEnvelope
from .errors import FlowdashError
from .events import Delivered, Filtered, FlowEmitter, Published
from .filter_policy import filter_policy_evaluate
from .push import application_arn_parse, endpoint_application_arn, payload_for
from .receiving import ReceivedMessage
from .topology import TopologyIndex

RAW_WAIT_SECONDS = 2.0
#: Times a receive waits 5 ms for the broker's report of the message's way in.
CATCH_UP_TRIES = 20
BODY_PREVIEW_CHARS = 4096
MEMORY = 20_000  # traces, SQS message ids and body keys remembered


_V = TypeVar("_V")


class _Lru(OrderedDict[str, _V], Generic[_V]):
    def remember(self, key: str, value: _V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > MEMORY:
            self.popitem(last=False)


def body_key(queue_arn: str, body: str) -> str:
    return queue_arn + ":" + hashlib.sha256(body.encode()).hexdigest()


def attribute_values(attributes: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Attributes as SNS envelopes spell them: ``{name: {"Type": ..., "Value": ...}}``."""
    return {
        name: {
            "Type": str(a.get("Type", a.get("DataType", "String"))),
            "Value": str(a.get("Value", a.get("StringValue", ""))),
        }
        for name, a in attributes.items()
    }


class Correlator:
    def __init__(self, emitter: FlowEmitter) -> None:
        self._emitter = emitter
        self.index = TopologyIndex.empty()
        self._published: _Lru[None] = _Lru()  # trace id -> None
        self._delivered: _Lru[None] = _Lru()  # trace id + queue arn -> None
        self._by_message: _Lru[str] = _Lru()  # queue arn + SQS message id -> trace id
        self._raw: dict[str, deque[str]] = {}  # body key -> trace ids seen by taps
        #: Flowdash's own per-platform publications (trace id -> MessageStructure JSON).
        self._structures: _Lru[str] = _Lru()
        self._raw_changed = asyncio.Event()
        self._policies: dict[str, dict[str, Any]] = {}
        #: Set by the embedded observer: handles the broker's pending reports at once.
        self.catch_up: Callable[[], None] | None = None

    def trace_known(self, *, queue_arn: str, message_id: str) -> str | None:
        """The trace of a message in a queue, if its way in was seen."""
        return self._by_message.get(queue_arn + message_id)

    def trace_remember(self, *, queue_arn: str, message_id: str, trace_id: str) -> None:
        self._by_message.remember(queue_arn + message_id, trace_id)

    def structure_remember(self, *, trace_id: str, message: str) -> None:
        """Flowdash published this per platform (``MessageStructure=json``): a tap sees
        only its ``sqs``/``default`` text, so a device's copy is worked out from this."""
        self._structures.remember(trace_id, message)

    def _device_payload(self, trace_id: str, endpoint_arn: str) -> str | None:
        structure = self._structures.get(trace_id)
        if structure is None:
            return None  # not published by Flowdash: the tap's text is all there is
        try:
            platform, _ = application_arn_parse(endpoint_application_arn(endpoint_arn))
        except FlowdashError:
            platform = ""
        return payload_for(structure, platform, structured=True)

    def publication_record(
        self, *, trace_id: str, topic_arn: str, subject: str | None, body: str,
        attributes: dict[str, dict[str, str]], group_id: str | None, source: str,
        client: str | None,
    ) -> None:  # fmt: skip
        """The broker itself reports a publication (embedded observer): its fanout
        follows as the broker decides it (``copy_record`` and ``Filtered``)."""
        if trace_id in self._published:
            return
        self._published.remember(trace_id, None)
        self._emitter.emit(
            Published, trace_id=trace_id, topic_arn=topic_arn, subject=subject,
            body=body[:BODY_PREVIEW_CHARS], attributes=attributes, group_id=group_id,
            source=source, client=client,
        )  # fmt: skip

    def copy_record(
        self, *, trace_id: str, topic_arn: str, subscription_arn: str, queue_arn: str,
        message_id: str,
    ) -> None:  # fmt: skip
        """The broker put a topic's copy in a queue (embedded observer)."""
        if trace_id + queue_arn in self._delivered:
            return
        self._delivered.remember(trace_id + queue_arn, None)
        self._by_message.remember(queue_arn + message_id, trace_id)
        self._emitter.emit(
            Delivered, trace_id=trace_id, topic_arn=topic_arn, subscription_arn=subscription_arn,
            protocol="sqs", endpoint=queue_arn, message_id=message_id,
        )  # fmt: skip

    def publication_observe(
        self, envelope: SnsEnvelope, *, group_id: str | None = None, source: str = "external"
    ) -> None:
        trace = envelope.message_id
        if trace in self._published:
            return
        self._published.remember(trace, None)
        self._emitter.emit(
            Published,
            trace_id=trace,
            topic_arn=envelope.topic_arn,
            subject=envelope.subject,
            body=envelope.message[:BODY_PREVIEW_CHARS],
            attributes=attribute_values(envelope.message_attributes),
            group_id=group_id,
            source=source,
        )
        for sub in self.index.subscriptions_by_topic.get(envelope.topic_arn, []):
            result = self._evaluate(sub.filter_policy, sub.filter_policy_scope, envelope)
            common = {
                "trace_id": trace,
                "topic_arn": envelope.topic_arn,
                "subscription_arn": sub.arn,
                "protocol": sub.protocol,
                "endpoint": sub.endpoint,
            }
            if not result.matched:
                self._emitter.emit(Filtered, reason=result.reason or "filtered", **common)
                continue
            if sub.protocol == "application":
                if self.index.endpoint_disabled(sub.endpoint):
                    continue  # SNS delivers nothing to a switched-off device, and says nothing
                body = self._device_payload(trace, sub.endpoint)
                self._emitter.emit(Delivered, body=body, **common)
                continue
            self._emitter.emit(Delivered, **common)
            if sub.protocol == "sqs":
                self._delivered.remember(trace + sub.endpoint, None)
                if sub.raw_message_delivery:
                    key = body_key(sub.endpoint, envelope.message)
                    self._raw.setdefault(key, deque(maxlen=1000)).append(trace)
                    self._raw_changed.set()

    def direct_observe(
        self, *, trace_id: str, queue_arn: str, body: str, source: str = "external",
        attributes: dict[str, dict[str, str]] | None = None, group_id: str | None = None,
        client: str | None = None,
    ) -> None:  # fmt: skip
        """A message sent straight to a queue, not through a topic."""
        self._by_message.remember(queue_arn + trace_id, trace_id)
        if trace_id in self._published:
            return
        self._published.remember(trace_id, None)
        self._emitter.emit(
            Published,
            trace_id=trace_id,
            queue_arn=queue_arn,
            body=body[:BODY_PREVIEW_CHARS],
            attributes=attributes or {},
            group_id=group_id,
            source=source,
            client=client,
        )

    async def trace_for(self, message: ReceivedMessage, *, queue_arn: str) -> str:
        """The trace a received message belongs to; emits its publication if unseen."""
        key = queue_arn + message.message_id
        if self.catch_up is not None:
            # The broker reports a message's way in as it happens: take those reports
            # first, or a worker's receive would announce the message again. A sender's
            # thread may not have reported yet when the receiver already has it, so wait
            # a moment before deciding the way in was never seen (sent before we started).
            for _ in range(CATCH_UP_TRIES):
                self.catch_up()
                if key in self._by_message:
                    break
                await asyncio.sleep(0.005)
        cached = self._by_message.get(key)
        if cached:
            return cached
        trace = await self._resolve(message, queue_arn)
        self._by_message.remember(queue_arn + message.message_id, trace)
        return trace

    async def _resolve(self, message: ReceivedMessage, queue_arn: str) -> str:
        envelope = message.envelope
        if envelope is not None and envelope.topic_arn in self.index.topics:
            self.publication_observe(envelope, group_id=message.message_group_id)
            self._delivery_confirm(envelope.message_id, envelope.topic_arn, queue_arn)
            return envelope.message_id
        if queue_arn in self.index.raw_topics_by_queue:
            key = body_key(queue_arn, message.body)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + RAW_WAIT_SECONDS
            while True:
                waiting = self._raw.get(key)
                if waiting:
                    return waiting.popleft()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._raw_changed.clear()
                try:
                    await asyncio.wait_for(self._raw_changed.wait(), remaining)
                except TimeoutError:
                    break
        self.direct_observe(
            trace_id=message.message_id,
            queue_arn=queue_arn,
            body=message.body,
            attributes={
                a.name: {"Type": a.type, "Value": a.value} for a in message.message_attributes
            },
            group_id=message.message_group_id,
        )
        return message.message_id

    def _delivery_confirm(self, trace: str, topic_arn: str, queue_arn: str) -> None:
        """A worker holds a copy the filter rules said AWS would not deliver: show both."""
        if trace + queue_arn in self._delivered:
            return
        self._delivered.remember(trace + queue_arn, None)
        sub = next(
            (
                s
                for s in self.index.subscriptions_by_topic.get(topic_arn, [])
                if s.endpoint == queue_arn
            ),
            None,
        )
        self._emitter.emit(
            Delivered,
            trace_id=trace,
            topic_arn=topic_arn,
            subscription_arn=sub.arn if sub else "",
            protocol="sqs",
            endpoint=queue_arn,
            basis="observed",
            note="The backend delivered this copy although AWS's filter rules would not have.",
        )

    def _evaluate(self, policy_text: str | None, scope: str, envelope: SnsEnvelope) -> Any:
        if not policy_text:
            return _MATCH
        policy = self._policies.get(policy_text)
        if policy is None:
            policy = self._policies[policy_text] = json.loads(policy_text)
        return filter_policy_evaluate(
            policy,
            scope=scope,
            message_attributes=envelope.message_attributes,
            body=envelope.message,
        )


class _Match:
    matched = True
    reason = None


_MATCH = _Match()
