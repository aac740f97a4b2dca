"""Seeing inside a queue without stealing its messages: one interface, three kinds.

- ``embedded``: moto runs in this process, so messages are read from its memory
  (``embedded.contents``): visible, in flight (with when they reappear) and delayed,
  and nothing about them changes.
- ``localstack``: LocalStack's developer endpoint lists messages without
  receiving them (``GET /_aws/sqs/messages``), in flight and delayed included.
- ``receive``: real AWS and other endpoints offer no such view. The only way to
  look is a ReceiveMessage; Flowdash offers it as an explicit "receive and
  return" (VisibilityTimeout 0) and never runs it by itself, because it raises
  each message's receive count and so moves it toward the dead-letter queue.

A queue can hold thousands of messages, so a view can be one page of them
(``offset``/``limit``) and only those matching a search (``query``: a substring of
the body, the SNS envelope's message or an attribute's name or value, any case).
Counts are always over the whole queue. On the embedded backend the whole queue
is still read from memory each time (a search through 5,000 messages answered in
about 60 ms, HTTP included); only the page is serialised.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Literal

from .connection import Connection
from .envelope import SnsEnvelope, envelope_parse
from .errors import BackendUnavailable
from .receiving import queue_receive
from .resources import Queue, ownership_check

InspectorKind = Literal["embedded", "localstack", "receive"]
MessageState = Literal["visible", "in_flight", "delayed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class InspectedMessage:
    message_id: str
    body: str
    state: MessageState
    receive_count: int
    sent_timestamp: int | None = None
    #: Epoch ms when an in-flight message becomes visible again (None if unknown).
    visible_at: int | None = None
    delayed_until: int | None = None
    group_id: str | None = None
    deduplication_id: str | None = None
    sequence_number: str | None = None
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    envelope: SnsEnvelope | None = None

    @property
    def trace_id(self) -> str:
        """The id its journey is stored under (``/traces/<id>/``): an SNS copy's is the
        envelope's MessageId (the publication's), a message sent straight to the queue
        its own SQS MessageId."""
        return self.envelope.message_id if self.envelope else self.message_id

    def matches(self, needle: str) -> bool:
        """Whether ``needle`` (casefolded) is in its body, the envelope's message or an
        attribute's name or value (the envelope's attributes included)."""
        haystack = [self.body, self.message_id]
        haystack += [part for k, v in self.attributes.items() for part in (k, v.get("Value", ""))]
        if self.envelope:
            haystack.append(self.envelope.message)
            haystack += [
                part
                for k, v in self.envelope.message_attributes.items()
                for part in (k, str(v.get("Value", "")))
            ]
        return any(needle in text.casefold() for text in haystack)


#: Messages per page when a caller asks for pages without saying how many.
PAGE_SIZE = 50
#: The most one page may hold.
PAGE_SIZE_MAX = 500

RECEIVE_NOTE = (
    "This backend has no way to look into a queue without receiving. "
    "'Receive and return' is a real ReceiveMessage: each message's receive count "
    "rises (moving it toward the dead-letter queue) and other consumers may miss it "
    "for a moment."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueView:
    kind: InspectorKind
    queue_arn: str
    fifo: bool
    now_ms: int
    #: The page asked for (every message matching ``query`` when no limit was given).
    messages: list[InspectedMessage] = field(default_factory=list)
    #: Messages in the whole queue by state, whatever the page and the search.
    counts: dict[str, int] = field(default_factory=dict)
    #: Messages in the queue, and how many of them match ``query``.
    total: int = 0
    matched: int = 0
    offset: int = 0
    limit: int | None = None
    query: str = ""
    max_receive_count: int | None = None
    dead_letter_arn: str | None = None
    #: FIFO: the page's message ids per group, in order; groups with a message in
    #: flight anywhere in the queue are locked.
    lanes: dict[str, list[str]] = field(default_factory=dict)
    locked_groups: list[str] = field(default_factory=list)
    note: str = ""


_localstack: dict[str, bool] = {}


def inspector_kind(conn: Connection) -> InspectorKind:
    if conn.backend == "embedded":
        from .embedded.version import moto_supported

        # On a moto whose internals were never read, only the receive-based look is safe.
        return "embedded" if moto_supported("queue inspection") else "receive"
    if conn.backend == "endpoint" and conn.endpoint_url and _is_localstack(conn.endpoint_url):
        return "localstack"
    return "receive"


def queue_inspect(
    conn: Connection,
    *,
    queue: Queue,
    offset: int = 0,
    limit: int | None = None,
    query: str = "",
) -> QueueView:
    """The queue's messages, where the backend allows it, changing none of them: those
    matching ``query`` (all when empty), from ``offset``, at most ``limit`` (all when
    None)."""
    ownership_check(conn, queue.name)
    kind = inspector_kind(conn)
    if kind == "embedded":
        from .embedded.contents import moto_queue_messages

        messages = moto_queue_messages(queue_url=queue.url, region=conn.config.region)
    elif kind == "localstack":
        messages = _localstack_messages(conn.endpoint_url or "", queue.url)
    else:
        messages = []
    note = RECEIVE_NOTE if kind == "receive" else ""
    return _view(kind, queue, messages, note=note, offset=offset, limit=limit, query=query)


def queue_receive_and_return(
    conn: Connection, *, queue: Queue, max_messages: int = 10
) -> QueueView:
    """The explicit, receive-based look: messages stay visible but their receive count rises."""
    received = queue_receive(
        conn, queue_url=queue.url, max_messages=max_messages, visibility_timeout=0
    )
    messages = [
        InspectedMessage(
            message_id=m.message_id,
            body=m.body,
            state="visible",
            receive_count=m.receive_count,
            sent_timestamp=m.sent_timestamp,
            group_id=m.message_group_id,
            attributes={a.name: {"Type": a.type, "Value": a.value} for a in m.message_attributes},
            envelope=m.envelope,
        )
        for m in received
    ]
    return _view("receive", queue, messages, note=RECEIVE_NOTE)


def _view(
    kind: InspectorKind,
    queue: Queue,
    messages: list[InspectedMessage],
    *,
    note: str,
    offset: int = 0,
    limit: int | None = None,
    query: str = "",
) -> QueueView:
    counts = {"visible": 0, "in_flight": 0, "delayed": 0}
    locked: list[str] = []
    for message in messages:
        counts[message.state] += 1
        group = message.group_id or ""
        if queue.fifo and message.state == "in_flight" and group not in locked:
            locked.append(group)
    needle = query.strip().casefold()
    found = [m for m in messages if m.matches(needle)] if needle else messages
    offset = max(0, offset)
    page = found[offset : offset + limit] if limit is not None else found[offset:]
    lanes: dict[str, list[str]] = {}
    if queue.fifo:
        for message in page:
            lanes.setdefault(message.group_id or "", []).append(message.message_id)
    return QueueView(
        kind=kind,
        queue_arn=queue.arn,
        fifo=queue.fifo,
        now_ms=int(time.time() * 1000),
        messages=page,
        counts=counts,
        total=len(messages),
        matched=len(found),
        offset=offset,
        limit=limit,
        query=query.strip(),
        max_receive_count=queue.max_receive_count,
        dead_letter_arn=queue.dead_letter_arn,
        lanes=lanes,
        locked_groups=locked,
        note=note,
    )


def _is_localstack(endpoint: str) -> bool:
    if endpoint not in _localstack:
        try:
            with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_localstack/health", timeout=2):
                _localstack[endpoint] = True
        except (OSError, ValueError):
            _localstack[endpoint] = False
    return _localstack[endpoint]


def _localstack_messages(endpoint: str, queue_url: str) -> list[InspectedMessage]:
    query = urllib.parse.urlencode(
        {"QueueUrl": queue_url, "ShowInvisible": "true", "ShowDelayed": "true"}
    )
    request = urllib.request.Request(
        f"{endpoint.rstrip('/')}/_aws/sqs/messages?{query}",
        headers={"Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            data = json.load(response)
    except (OSError, ValueError) as exc:
        raise BackendUnavailable(f"LocalStack's message view did not answer: {exc}") from exc
    return [_localstack_message(m) for m in _find_messages(data)]


def _find_messages(data: Any) -> list[dict[str, Any]]:
    """LocalStack answers in ReceiveMessage's XML shape turned into JSON, nested or flat:
    one message is an object, several a list."""
    if isinstance(data, dict):
        for key in ("ReceiveMessageResponse", "ReceiveMessageResult"):
            if key in data:
                return _find_messages(data[key])
        return _items(data.get("Messages", data.get("Message", [])))
    return []


def _items(value: Any) -> list[Any]:
    """An XML element that repeats: a list, or one object when it occurs once."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _localstack_attributes(m: dict[str, Any]) -> dict[str, str]:
    """System attributes: ``Attribute`` (XML's spelling, as LocalStack 2026.3 answers),
    a list of ``{"Name", "Value"}``; ``Attributes`` as a mapping in ReceiveMessage's JSON
    shape."""
    found = m.get("Attributes")
    if isinstance(found, dict):
        return {str(k): str(v) for k, v in found.items()}
    pairs = _items(found if found is not None else m.get("Attribute"))
    return {str(a["Name"]): str(a["Value"]) for a in pairs if isinstance(a, dict) and "Name" in a}


def _localstack_message_attributes(m: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Message attributes as SNS envelopes spell them (``{name: {"Type", "Value"}}``),
    from ``MessageAttribute`` (XML: ``{"Name", "Value": {"DataType", "StringValue"}}``,
    one object or a list) or ``MessageAttributes`` (JSON: ``{name: {"DataType", ...}}``)."""
    found = m.get("MessageAttributes")
    if isinstance(found, dict):
        named = list(found.items())
    else:
        named = [
            (a["Name"], a.get("Value", {}))
            for a in _items(m.get("MessageAttribute"))
            if isinstance(a, dict) and "Name" in a
        ]
    result: dict[str, dict[str, str]] = {}
    for name, value in named:
        if not isinstance(value, dict):
            continue
        data = value.get("StringValue", value.get("BinaryValue", ""))
        result[str(name)] = {"Type": str(value.get("DataType", "String")), "Value": str(data)}
    return result


def _localstack_message(m: dict[str, Any]) -> InspectedMessage:
    raw_attrs = _localstack_attributes(m)
    delayed = raw_attrs.get("IsDelayed", "false").lower() == "true"
    invisible = raw_attrs.get("IsVisible", "true").lower() == "false"
    sent = raw_attrs.get("SentTimestamp")
    return InspectedMessage(
        message_id=m.get("MessageId", ""),
        body=m.get("Body", ""),
        state="delayed" if delayed else "in_flight" if invisible else "visible",
        receive_count=int(raw_attrs.get("ApproximateReceiveCount", 0)),
        sent_timestamp=int(sent) if sent else None,
        group_id=raw_attrs.get("MessageGroupId"),
        deduplication_id=raw_attrs.get("MessageDeduplicationId"),
        sequence_number=raw_attrs.get("SequenceNumber"),
        attributes=_localstack_message_attributes(m),
        envelope=envelope_parse(m.get("Body", "")),
    )
