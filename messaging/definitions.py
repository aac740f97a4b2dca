"""Definitions: the whole topology, optionally with its messages, as one JSON document.

As RabbitMQ's management UI exports and imports "definitions": topics, queues
(with their dead-letter queues) and subscriptions (with filter policies and raw
delivery) go out as one file and come back in, on this backend or any other.
Everything goes through boto3 (``resources``, ``subscriptions``, ``publishing``),
so it works against every backend, lists and changes only names under the
resource prefix, and a read-only Flowdash refuses to import.

The document (``format`` and ``version`` name what reads it)::

    {"format": "flowdash-definitions", "version": 1,
     "exported_at": "2026-01-31T12:00:00Z",
     "source": {"backend": "embedded", "region": "us-east-1", "resource_prefix": ""},
     "topics": [{"name": "orders", "fifo": false, "content_based_deduplication": false}],
     "queues": [{"name": "work", "fifo": false, "content_based_deduplication": false,
                 "visibility_timeout": 30, "delay_seconds": 0, "retention_seconds": 345600,
                 "receive_wait_seconds": 0, "dead_letter_queue": "work-dlq",
                 "max_receive_count": 5,
                 "messages": [{"body": "...", "attributes": [{"name": "kind",
                               "type": "String", "value": "new"}],
                               "message_group_id": null, "deduplication_id": null,
                               "message_id": "...", "sent_timestamp": 1769860800000,
                               "receive_count": 0}]}],
     "subscriptions": [{"topic": "orders", "protocol": "sqs", "endpoint": "work",
                        "filter_policy": {"kind": ["new"]},
                        "filter_policy_scope": "MessageAttributes",
                        "raw_message_delivery": false}],
     "notes": []}

Names are relative to the resource prefix (the importing Flowdash adds its own);
an SQS subscription's endpoint and a dead-letter queue name a queue of the file
or one that exists (or give an ARN). A queue's ``messages`` appear only in an
export with messages; ``message_id``, ``sent_timestamp`` and ``receive_count``
say what the message was and are not sent again (SQS gives new ones). Messages
are read without receiving where the backend allows it (``inspection``: the
embedded moto, LocalStack); elsewhere they are left out and ``notes`` says so.

Importing is checked whole before anything is created: every problem is named by
its place in the file (``queues[2].name: ...``) and a file with any problem
changes nothing. It only creates: a resource that exists with the same settings
is left as it is, one that exists with other settings is a problem. Messages are
sent only into queues the import creates, so importing the same file twice
changes nothing the second time. If the backend fails half way, what this import
created is deleted again.

Cost: an export makes about one request per resource (two per queue with messages,
on the embedded backend none for the messages themselves); an import one listing
of the topology, then one request per created resource and one per ten messages.
"""

from __future__ import annotations

import ast
import base64
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict, TypeGuard
from urllib.parse import urlsplit

from .connection import Connection
from .errors import FlowdashError, InvalidInput
from .filter_policy import filter_policy_validate
from .inspection import inspector_kind, queue_inspect
from .publishing import BatchEntry, queue_send_batch
from .resources import (
    DEFAULT_MAX_RECEIVE_COUNT,
    Queue,
    arn_name,
    qualified_name,
    queue_create,
    queue_delete,
    topic_create,
    topic_delete,
)
from .subscriptions import (
    PROTOCOLS,
    RAW_DELIVERY_PROTOCOLS,
    SCOPES,
    Subscription,
    host_allowed,
    subscription_create,
    subscription_delete,
)
from .topology import Topology, topology_get
from .validation import (
    BATCH_MAX,
    DELAY_SECONDS_MAX,
    EMAIL_RE,
    FIFO_SUFFIX,
    MAX_RECEIVE_COUNT_MAX,
    PHONE_RE,
    RECEIVE_WAIT_MAX,
    RETENTION_MAX,
    RETENTION_MIN,
    SQS_MAX_MESSAGE_BYTES,
    VISIBILITY_TIMEOUT_MAX,
    MessageAttribute,
    body_validate,
    fifo_ids_validate,
    message_attributes_validate,
    resource_name_validate,
)

logger = logging.getLogger(__name__)

DEFINITIONS_FORMAT = "flowdash-definitions"
DEFINITIONS_VERSION = 1
#: How many problems one refusal lists; a file that is wrong everywhere has more.
PROBLEMS_SHOWN = 10

NOT_AN_OBJECT = "The file is not a JSON object: a definitions file starts with '{'."
WRONG_FORMAT = f"expected {DEFINITIONS_FORMAT!r}: this is not a Flowdash definitions file."
NEWER_VERSION = "this Flowdash reads version {ours}; the file has version {theirs}."
MESSAGES_NOT_READ = (
    "Messages were not exported: this backend has no way to read a queue without "
    "receiving its messages, and an export must not change them."
)

#: Keys a message may carry that say what it was; they are not sent again.
MESSAGE_INFO_KEYS = ("message_id", "sent_timestamp", "receive_count", "state")
QueueSettingKey = Literal[
    "visibility_timeout", "delay_seconds", "retention_seconds", "receive_wait_seconds"
]


class QueueSettings(TypedDict, total=False):
    """A queue's settings as the file gives them (file key -> value): those it gives.

    The keys are ``queue_create``'s keyword arguments of the same names."""

    visibility_timeout: int
    delay_seconds: int
    retention_seconds: int
    receive_wait_seconds: int


QUEUE_SETTINGS: tuple[tuple[QueueSettingKey, str, int, int], ...] = (
    # file key, AWS attribute, low, high
    ("visibility_timeout", "VisibilityTimeout", 0, VISIBILITY_TIMEOUT_MAX),
    ("delay_seconds", "DelaySeconds", 0, DELAY_SECONDS_MAX),
    ("retention_seconds", "MessageRetentionPeriod", RETENTION_MIN, RETENTION_MAX),
    ("receive_wait_seconds", "ReceiveMessageWaitTimeSeconds", 0, RECEIVE_WAIT_MAX),
)


class DefinitionsInvalid(InvalidInput):
    """A definitions file with problems; nothing was created. ``problems`` names each
    by its place in the file; ``field`` is the first one's place."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = [f"{path}: {text}" if path else text for path, text in problems]
        shown = "; ".join(self.problems[:PROBLEMS_SHOWN])
        more = len(self.problems) - PROBLEMS_SHOWN
        if more > 0:
            shown += f"; and {more} more"
        super().__init__(shown, field=problems[0][0] or None, code="InvalidDefinitions")


# --- The parsed file -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicDefinition:
    path: str
    name: str  # the full AWS name (prefix added)
    fifo: bool
    content_based_deduplication: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDefinition:
    body: str
    attributes: tuple[MessageAttribute, ...] = ()
    message_group_id: str | None = None
    deduplication_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueDefinition:
    path: str
    name: str
    fifo: bool
    content_based_deduplication: bool
    settings: QueueSettings  # file key -> value, only those the file gives
    dead_letter_queue: str | None  # full name, or an ARN
    max_receive_count: int | None
    messages: tuple[MessageDefinition, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionDefinition:
    path: str
    topic: str  # full name
    protocol: str
    endpoint: str  # for sqs: a full queue name or an ARN
    filter_policy: dict[str, Any] | None
    filter_policy_scope: str
    raw_message_delivery: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Definitions:
    topics: tuple[TopicDefinition, ...]
    queues: tuple[QueueDefinition, ...]
    subscriptions: tuple[SubscriptionDefinition, ...]


# --- What an import does ---------------------------------------------------------------------

Kind = Literal["topic", "queue", "subscription"]
Action = Literal["create", "exists"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedItem:
    kind: Kind
    name: str
    action: Action
    detail: str = ""
    #: Messages this import sends into the queue (only into queues it creates).
    messages: int = 0
    #: Messages in the file for a queue that exists already: not sent.
    messages_skipped: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportPlan:
    """What an import creates and what it finds in place; ``applied`` once done."""

    items: list[PlannedItem]
    applied: bool = False

    def count(self, kind: Kind, action: Action) -> int:
        return sum(1 for item in self.items if item.kind == kind and item.action == action)

    @property
    def messages(self) -> int:
        return sum(item.messages for item in self.items)

    @property
    def messages_skipped(self) -> int:
        return sum(item.messages_skipped for item in self.items)

    @property
    def changes(self) -> bool:
        return any(item.action == "create" for item in self.items) or self.messages > 0

    def summary(self) -> dict[str, dict[str, int]]:
        return {
            action: {
                "topics": self.count("topic", action),
                "queues": self.count("queue", action),
                "subscriptions": self.count("subscription", action),
                **({"messages": self.messages} if action == "create" else {}),
            }
            for action in ("create", "exists")
        }

    def describe(self) -> str:
        """One line: "created 2 topics, 3 queues, 2 subscriptions, 10 messages; ..."."""
        verb = "created" if self.applied else "would create"
        made = _counted(
            ("topic", self.count("topic", "create")),
            ("queue", self.count("queue", "create")),
            ("subscription", self.count("subscription", "create")),
            ("message", self.messages),
        )
        there = _counted(
            ("topic", self.count("topic", "exists")),
            ("queue", self.count("queue", "exists")),
            ("subscription", self.count("subscription", "exists")),
        )
        line = f"{verb} {made}" if self.changes else "nothing to create"
        if there != "nothing":
            line += f"; already there: {there}"
        if self.messages_skipped:
            line += f"; {_counted(('message', self.messages_skipped))} not sent (queue exists)"
        return line


def _counted(*pairs: tuple[str, int]) -> str:
    parts = [f"{n} {word}{'' if n == 1 else 's'}" for word, n in pairs if n]
    return ", ".join(parts) or "nothing"


# --- Export ------------------------------------------------------------------------------------


def definitions_export(conn: Connection, *, messages: bool = False) -> dict[str, Any]:
    """The topology under the resource prefix as a definitions document; with
    ``messages``, each queue's messages too, read without receiving them."""
    topology = topology_get(conn)
    prefix = conn.prefix
    queue_names = {q.arn: q.name for q in topology.queues}
    notes: list[str] = []
    can_read = inspector_kind(conn) != "receive"
    if messages and not can_read:
        notes.append(MESSAGES_NOT_READ)
    queues = []
    for queue in topology.queues:
        entry = _queue_exported(queue, prefix, queue_names)
        if messages and can_read:
            entry["messages"] = _messages_exported(conn, queue)
        queues.append(entry)
    topic_names = {t.arn: t.name for t in topology.topics}
    subscriptions = sorted(
        (
            _subscription_exported(sub, prefix, topic_names, queue_names)
            for sub in topology.subscriptions
            if sub.topic_arn in topic_names
        ),
        key=lambda s: (s["topic"], s["protocol"], s["endpoint"]),
    )
    return {
        "format": DEFINITIONS_FORMAT,
        "version": DEFINITIONS_VERSION,
        "exported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {
            "backend": conn.backend,
            "region": conn.config.region,
            "resource_prefix": prefix,
        },
        "topics": [
            {
                "name": _relative(t.name, prefix),
                "fifo": t.fifo,
                "content_based_deduplication": t.content_based_deduplication,
            }
            for t in sorted(topology.topics, key=lambda t: t.name)
        ],
        "queues": sorted(queues, key=lambda q: q["name"]),
        "subscriptions": subscriptions,
        "notes": notes,
    }


def _relative(name: str, prefix: str) -> str:
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def _queue_exported(queue: Queue, prefix: str, queue_names: Mapping[str, str]) -> dict[str, Any]:
    attributes = queue.attributes
    entry: dict[str, Any] = {
        "name": _relative(queue.name, prefix),
        "fifo": queue.fifo,
        "content_based_deduplication": queue.content_based_deduplication,
    }
    for key, attribute, _, _ in QUEUE_SETTINGS:
        value = attributes.get(attribute)
        entry[key] = int(value) if value not in (None, "") else None
    dlq = queue.dead_letter_arn
    if dlq:
        entry["dead_letter_queue"] = (
            _relative(queue_names[dlq], prefix) if dlq in queue_names else dlq
        )
        entry["max_receive_count"] = queue.max_receive_count
    else:
        entry["dead_letter_queue"] = None
        entry["max_receive_count"] = None
    return entry


def _messages_exported(conn: Connection, queue: Queue) -> list[dict[str, Any]]:
    view = queue_inspect(conn, queue=queue)
    return [
        {
            "body": m.body,
            "attributes": [
                {"name": name, "type": a.get("Type", "String"), "value": _attribute_text(a)}
                for name, a in sorted(m.attributes.items())
            ],
            "message_group_id": m.group_id,
            "deduplication_id": m.deduplication_id,
            "message_id": m.message_id,
            "sent_timestamp": m.sent_timestamp,
            "receive_count": m.receive_count,
        }
        for m in view.messages
    ]


def _attribute_text(attribute: Mapping[str, str]) -> str:
    """The value as a user enters it: Binary as base64. The embedded inspector hands a
    Binary value over as the text of Python bytes (``b'\\x00'``); that is read back."""
    value = str(attribute.get("Value", ""))
    if attribute.get("Type", "").startswith("Binary") and value[:2] in ("b'", 'b"'):
        try:
            raw = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        if isinstance(raw, bytes):
            return base64.b64encode(raw).decode("ascii")
    return value


def _subscription_exported(
    sub: Subscription,
    prefix: str,
    topic_names: Mapping[str, str],
    queue_names: Mapping[str, str],
) -> dict[str, Any]:
    endpoint = sub.endpoint
    if sub.protocol == "sqs" and endpoint in queue_names:
        endpoint = _relative(queue_names[endpoint], prefix)
    policy: Any = None
    if sub.filter_policy:
        try:
            policy = json.loads(sub.filter_policy)
        except ValueError:
            policy = sub.filter_policy
    return {
        "topic": _relative(topic_names[sub.topic_arn], prefix),
        "protocol": sub.protocol,
        "endpoint": endpoint,
        "filter_policy": policy,
        "filter_policy_scope": sub.filter_policy_scope,
        "raw_message_delivery": sub.raw_message_delivery,
    }


# --- Reading a file ----------------------------------------------------------------------------


class _Problems:
    """Collects (path, text) pairs; ``at`` turns an InvalidInput into one."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, text: str) -> None:
        self.items.append((path, text))

    @contextmanager
    def at(self, path: str) -> Iterator[None]:
        try:
            yield
        except InvalidInput as exc:
            self.add(path, exc.message)

    def raise_any(self) -> None:
        if self.items:
            raise DefinitionsInvalid(self.items)


def definitions_parse(conn: Connection, *, document: Any) -> Definitions:
    """Check a document as a whole, without asking the backend anything; every problem
    is named by its place (``queues[2].name: ...``). Raises DefinitionsInvalid."""
    problems = _Problems()
    definitions = _parse(conn, document, problems)
    problems.raise_any()
    return definitions


def _parse(conn: Connection, document: Any, problems: _Problems) -> Definitions:
    """The file's resources, problems noted in ``problems``; raises at once only for a
    document that is no definitions file at all (wrong format or version)."""
    if not isinstance(document, dict):
        raise DefinitionsInvalid([("", NOT_AN_OBJECT)])
    if document.get("format") != DEFINITIONS_FORMAT:
        raise DefinitionsInvalid([("format", WRONG_FORMAT)])
    version = document.get("version")
    if not _is_int(version) or version < 1:
        raise DefinitionsInvalid([("version", "expected a whole number, such as 1.")])
    if version > DEFINITIONS_VERSION:
        raise DefinitionsInvalid(
            [("version", NEWER_VERSION.format(ours=DEFINITIONS_VERSION, theirs=version))]
        )
    known = {"format", "version", "exported_at", "source", "topics", "queues"}
    _unknown_keys(problems, "", document, known | {"subscriptions", "notes"})
    topics = [
        t
        for i, item in enumerate(_list(problems, document, "topics"))
        if (t := _topic_parse(conn, problems, f"topics[{i}]", item)) is not None
    ]
    queues = [
        q
        for i, item in enumerate(_list(problems, document, "queues"))
        if (q := _queue_parse(conn, problems, f"queues[{i}]", item)) is not None
    ]
    subscriptions = [
        s
        for i, item in enumerate(_list(problems, document, "subscriptions"))
        if (s := _subscription_parse(conn, problems, f"subscriptions[{i}]", item)) is not None
    ]
    _twice(problems, topics, lambda t: t.name, "topic")
    _twice(problems, queues, lambda q: q.name, "queue")
    _twice(problems, subscriptions, lambda s: (s.topic, s.protocol, s.endpoint), "subscription")
    _file_references(problems, topics, queues, subscriptions)
    return Definitions(
        topics=tuple(topics), queues=tuple(_dead_letters_first(queues)),
        subscriptions=tuple(subscriptions),
    )  # fmt: skip


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _list(problems: _Problems, document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        problems.add(key, "expected a list.")
        return []
    return value


def _unknown_keys(problems: _Problems, path: str, item: dict[str, Any], known: set[str]) -> None:
    for key in item:
        if key not in known:
            where = f"{path}.{key}" if path else key
            problems.add(where, f"unknown field; expected one of {', '.join(sorted(known))}.")


def _object(problems: _Problems, path: str, item: Any, known: set[str]) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        problems.add(path, "expected an object.")
        return None
    _unknown_keys(problems, path, item, known)
    return item


def _text(problems: _Problems, path: str, item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.add(f"{path}.{key}", "expected a non-empty text.")
        return None
    return value.strip()


def _flag(problems: _Problems, path: str, item: dict[str, Any], key: str, default: bool) -> bool:
    value = item.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        problems.add(f"{path}.{key}", "expected true or false.")
        return default
    return value


def _topic_parse(
    conn: Connection, problems: _Problems, path: str, item: Any
) -> TopicDefinition | None:
    known = {"name", "fifo", "content_based_deduplication"}
    named = _named_parse(conn, problems, path, item, known, kind="topic")
    if named is None:
        return None
    _, full, fifo, cbd = named
    return TopicDefinition(path=path, name=full, fifo=fifo, content_based_deduplication=cbd)


def _named_parse(
    conn: Connection, problems: _Problems, path: str, item: Any, known: set[str], *, kind: str
) -> tuple[dict[str, Any], str, bool, bool] | None:
    """What topics and queues share: the object, its full name, FIFO and content-based
    deduplication, each checked as AWS would; None when there is no name to go on."""
    item = _object(problems, path, item, known)
    name = _text(problems, path, item, "name") if item is not None else None
    if item is None or name is None:
        return None
    fifo = _flag(problems, path, item, "fifo", name.endswith(FIFO_SUFFIX))
    cbd = _flag(problems, path, item, "content_based_deduplication", False)
    full = qualified_name(conn, name)
    with problems.at(f"{path}.name"):
        resource_name_validate(full, kind=kind, fifo=fifo)
    if cbd and not fifo:
        problems.add(
            f"{path}.content_based_deduplication",
            f"Content-based deduplication applies only to FIFO {kind}s.",
        )
    return item, full, fifo, cbd


def _queue_parse(
    conn: Connection, problems: _Problems, path: str, item: Any
) -> QueueDefinition | None:
    known = {
        "name", "fifo", "content_based_deduplication", "dead_letter_queue",
        "max_receive_count", "messages", *(key for key, *_ in QUEUE_SETTINGS),
    }  # fmt: skip
    named = _named_parse(conn, problems, path, item, known, kind="queue")
    if named is None:
        return None
    item, full, fifo, cbd = named
    settings: QueueSettings = {}
    for key, _, low, high in QUEUE_SETTINGS:
        value = item.get(key)
        if value is None:
            continue
        if not _is_int(value) or not low <= value <= high:
            problems.add(f"{path}.{key}", f"expected a whole number from {low} to {high}.")
            continue
        settings[key] = value
    dlq_value = item.get("dead_letter_queue")
    dlq: str | None = None
    if dlq_value is not None:
        if not isinstance(dlq_value, str) or not dlq_value.strip():
            problems.add(f"{path}.dead_letter_queue", "expected a queue name, an ARN or null.")
        else:
            dlq_value = dlq_value.strip()
            dlq = dlq_value if dlq_value.startswith("arn:") else qualified_name(conn, dlq_value)
            if arn_name(dlq) == full:
                problems.add(
                    f"{path}.dead_letter_queue", "A queue cannot be its own dead-letter queue."
                )
    max_receive = item.get("max_receive_count")
    if max_receive is not None:
        if not _is_int(max_receive) or not 1 <= max_receive <= MAX_RECEIVE_COUNT_MAX:
            problems.add(
                f"{path}.max_receive_count",
                f"expected a whole number from 1 to {MAX_RECEIVE_COUNT_MAX}.",
            )
            max_receive = None
        elif dlq is None:
            problems.add(f"{path}.max_receive_count", "applies only with a dead_letter_queue.")
    elif dlq is not None:
        max_receive = DEFAULT_MAX_RECEIVE_COUNT
    messages_value = item.get("messages", [])
    messages: list[MessageDefinition] = []
    if not isinstance(messages_value, list):
        problems.add(f"{path}.messages", "expected a list.")
    else:
        for j, message in enumerate(messages_value):
            parsed = _message_parse(problems, f"{path}.messages[{j}]", message, fifo=fifo, cbd=cbd)
            if parsed is not None:
                messages.append(parsed)
    return QueueDefinition(
        path=path, name=full, fifo=fifo, content_based_deduplication=cbd, settings=settings,
        dead_letter_queue=dlq, max_receive_count=max_receive, messages=tuple(messages),
    )  # fmt: skip


def _message_parse(
    problems: _Problems, path: str, item: Any, *, fifo: bool, cbd: bool
) -> MessageDefinition | None:
    known = {"body", "attributes", "message_group_id", "deduplication_id", *MESSAGE_INFO_KEYS}
    item = _object(problems, path, item, known)
    if item is None:
        return None
    body = item.get("body")
    if not isinstance(body, str):
        problems.add(f"{path}.body", "expected a text.")
        return None
    attributes: list[MessageAttribute] = []
    raw_attributes = item.get("attributes") or []
    if not isinstance(raw_attributes, list):
        problems.add(f"{path}.attributes", "expected a list of {name, type, value}.")
        raw_attributes = []
    for k, raw in enumerate(raw_attributes):
        where = f"{path}.attributes[{k}]"
        raw = _object(problems, where, raw, {"name", "type", "value"})
        if raw is None:
            continue
        if not all(isinstance(raw.get(key), str) for key in ("name", "value")) or not isinstance(
            raw.get("type", "String"), str
        ):
            problems.add(where, "name, type and value must be texts.")
            continue
        attributes.append(
            MessageAttribute(name=raw["name"], type=raw.get("type", "String"), value=raw["value"])
        )
    group_id, dedup_id = item.get("message_group_id"), item.get("deduplication_id")
    for key, value in (("message_group_id", group_id), ("deduplication_id", dedup_id)):
        if value is not None and not isinstance(value, str):
            problems.add(f"{path}.{key}", "expected a text or null.")
            return None
    with problems.at(f"{path}.attributes"):
        attributes = message_attributes_validate(attributes)
        with problems.at(f"{path}.body"):
            body_validate(body, limit=SQS_MAX_MESSAGE_BYTES, attributes=attributes)
    try:
        fifo_ids_validate(
            fifo=fifo, message_group_id=group_id or None, deduplication_id=dedup_id or None,
            content_based_deduplication=cbd, kind="queue",
        )  # fmt: skip
    except InvalidInput as exc:
        problems.add(f"{path}.{exc.field or 'message_group_id'}", exc.message)
    if not fifo and group_id:
        problems.add(f"{path}.message_group_id", "A message group id only applies to FIFO queues.")
    return MessageDefinition(
        body=body, attributes=tuple(attributes), message_group_id=group_id or None,
        deduplication_id=dedup_id or None,
    )  # fmt: skip


def _subscription_parse(
    conn: Connection, problems: _Problems, path: str, item: Any
) -> SubscriptionDefinition | None:
    known = {
        "topic", "protocol", "endpoint", "filter_policy", "filter_policy_scope",
        "raw_message_delivery",
    }  # fmt: skip
    item = _object(problems, path, item, known)
    if item is None:
        return None
    topic = _text(problems, path, item, "topic")
    protocol = _text(problems, path, item, "protocol")
    endpoint = _text(problems, path, item, "endpoint")
    if topic is None or protocol is None or endpoint is None:
        return None
    protocol = protocol.lower()
    if protocol not in PROTOCOLS:
        problems.add(f"{path}.protocol", f"expected one of {', '.join(PROTOCOLS)}.")
        return None
    scope = item.get("filter_policy_scope") or "MessageAttributes"
    if scope not in SCOPES:
        problems.add(f"{path}.filter_policy_scope", "expected MessageAttributes or MessageBody.")
        scope = "MessageAttributes"
    policy: dict[str, Any] | None = None
    raw_policy = item.get("filter_policy")
    if raw_policy not in (None, "", {}):
        if not isinstance(raw_policy, dict | str):
            problems.add(f"{path}.filter_policy", "expected an object (or its JSON text) or null.")
        else:
            with problems.at(f"{path}.filter_policy"):
                policy = filter_policy_validate(raw_policy, scope=scope)
    raw = _flag(problems, path, item, "raw_message_delivery", False)
    if raw and protocol not in RAW_DELIVERY_PROTOCOLS:
        problems.add(
            f"{path}.raw_message_delivery",
            "Raw message delivery applies only to SQS and HTTP(S) subscriptions.",
        )
    if protocol == "sqs":
        endpoint = endpoint if endpoint.startswith("arn:") else qualified_name(conn, endpoint)
    else:
        _endpoint_check(conn, problems, f"{path}.endpoint", protocol, endpoint)
    return SubscriptionDefinition(
        path=path, topic=qualified_name(conn, topic), protocol=protocol, endpoint=endpoint,
        filter_policy=policy, filter_policy_scope=scope, raw_message_delivery=raw,
    )  # fmt: skip


def _endpoint_check(
    conn: Connection, problems: _Problems, path: str, protocol: str, endpoint: str
) -> None:
    """The checks ``subscription_create`` makes on a non-SQS endpoint, made up front."""
    if protocol in ("http", "https"):
        parts = urlsplit(endpoint)
        if parts.scheme != protocol or not parts.hostname:
            problems.add(path, f"Enter a full {protocol.upper()} URL starting with {protocol}://.")
        elif not host_allowed(parts.hostname, conn.config.http_allowed_hosts):
            problems.add(
                path,
                f"SNS would call {parts.hostname}, which is not an allowed host "
                "(FLOWDASH_HTTP_ALLOWED_HOSTS).",
            )
    elif protocol in ("email", "email-json") and not EMAIL_RE.match(endpoint):
        problems.add(path, "Enter an email address.")
    elif protocol == "sms" and not PHONE_RE.match(endpoint):
        problems.add(path, "Enter a phone number in E.164 form, such as +14155550100.")


def _twice(problems: _Problems, items: list[Any], key: Callable[[Any], Any], kind: str) -> None:
    seen: dict[Any, str] = {}
    for item in items:
        k = key(item)
        if k in seen:
            problems.add(item.path, f"the same {kind} as {seen[k]}.")
        else:
            seen[k] = item.path


def _file_references(
    problems: _Problems,
    topics: list[TopicDefinition],
    queues: list[QueueDefinition],
    subscriptions: list[SubscriptionDefinition],
) -> None:
    """FIFO rules between resources that are both in the file (the plan checks the rest)."""
    by_queue = {q.name: q for q in queues}
    by_topic = {t.name: t for t in topics}
    for queue in queues:
        dlq = by_queue.get(queue.dead_letter_queue or "")
        if dlq is not None and dlq.fifo != queue.fifo:
            problems.add(
                f"{queue.path}.dead_letter_queue",
                "A FIFO queue needs a FIFO dead-letter queue, and a standard queue a standard one.",
            )
        seen = {queue.name}
        while dlq is not None and dlq.name not in seen:
            seen.add(dlq.name)
            dlq = by_queue.get(dlq.dead_letter_queue or "")
        if dlq is not None and dlq.name == queue.name and queue.dead_letter_queue != queue.name:
            problems.add(
                f"{queue.path}.dead_letter_queue",
                "the dead-letter queues form a cycle; one of them must have none.",
            )
    for sub in subscriptions:
        topic = by_topic.get(sub.topic)
        if topic is None:
            continue
        if sub.protocol != "sqs":
            _fifo_pair_check(problems, sub, topic_fifo=topic.fifo, queue_fifo=None)
            continue
        target = by_queue.get(arn_name(sub.endpoint))
        if target is not None:
            _fifo_pair_check(problems, sub, topic_fifo=topic.fifo, queue_fifo=target.fifo)


def _fifo_pair_check(
    problems: _Problems, sub: SubscriptionDefinition, *, topic_fifo: bool, queue_fifo: bool | None
) -> None:
    if topic_fifo and sub.protocol != "sqs":
        problems.add(f"{sub.path}.protocol", "A FIFO topic can deliver only to SQS FIFO queues.")
    elif queue_fifo is not None and topic_fifo != queue_fifo:
        problems.add(
            f"{sub.path}.endpoint",
            "A FIFO topic delivers only to FIFO queues, a standard topic only to standard ones.",
        )


def _dead_letters_first(queues: list[QueueDefinition]) -> list[QueueDefinition]:
    """Queues in an order that creates each dead-letter queue before the queues using it."""
    by_name = {q.name: q for q in queues}
    ordered: list[QueueDefinition] = []
    placed: set[str] = set()

    def place(queue: QueueDefinition, chain: tuple[str, ...]) -> None:
        if queue.name in placed or queue.name in chain:
            return
        dlq = by_name.get(queue.dead_letter_queue or "")
        if dlq is not None:
            place(dlq, (*chain, queue.name))
        placed.add(queue.name)
        ordered.append(queue)

    for queue in queues:
        place(queue, ())
    return ordered


# --- Planning against the backend ------------------------------------------------------------


@dataclass(slots=True)
class _Known:
    """The backend's resources by full name, from one topology read."""

    topology: Topology
    topics: dict[str, Any] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str, str], Subscription] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.topics = {t.name: t for t in self.topology.topics}
        self.queues = {q.name: q for q in self.topology.queues}
        self.subscriptions = {
            (s.topic_arn, s.protocol, s.endpoint): s for s in self.topology.subscriptions
        }


def _plan(definitions: Definitions, known: _Known, problems: _Problems) -> ImportPlan:
    """What importing creates and finds in place. Notes as problems the resources that
    exist with other settings, and references neither the file nor the backend holds."""
    items: list[PlannedItem] = []
    file_queues = {q.name: q for q in definitions.queues}
    file_topics = {t.name: t for t in definitions.topics}
    for topic in definitions.topics:
        there = known.topics.get(topic.name)
        detail = _topic_detail(topic.fifo, topic.content_based_deduplication)
        if there is not None:
            differs = _differences(
                ("fifo", there.fifo, topic.fifo),
                ("content_based_deduplication", there.content_based_deduplication,
                 topic.content_based_deduplication),
            )  # fmt: skip
            if differs:
                problems.add(topic.path, f"topic {topic.name!r} exists with {differs}.")
        items.append(
            PlannedItem(kind="topic", name=topic.name, detail=detail,
                        action="exists" if there is not None else "create")
        )  # fmt: skip
    for queue in definitions.queues:
        there = known.queues.get(queue.name)
        dlq_name = _dead_letter_check(problems, queue, file_queues, known)
        detail = _queue_detail(queue, dlq_name)
        if there is not None:
            differs = _queue_differences(queue, there, dlq_name, known)
            if differs:
                problems.add(queue.path, f"queue {queue.name!r} exists with {differs}.")
            items.append(
                PlannedItem(kind="queue", name=queue.name, action="exists", detail=detail,
                            messages_skipped=len(queue.messages))
            )  # fmt: skip
        else:
            items.append(
                PlannedItem(kind="queue", name=queue.name, action="create", detail=detail,
                            messages=len(queue.messages))
            )  # fmt: skip
    for sub in definitions.subscriptions:
        items.append(_subscription_plan(problems, sub, file_topics, file_queues, known))
    return ImportPlan(items=items)


def _differences(*triples: tuple[str, Any, Any]) -> str:
    return ", ".join(f"{key} {have!r} (the file says {want!r})" for key, have, want in triples if
                     have != want)  # fmt: skip


def _topic_detail(fifo: bool, cbd: bool) -> str:
    return ("FIFO" + (", content-based deduplication" if cbd else "")) if fifo else "standard"


def _queue_detail(queue: QueueDefinition, dlq_name: str | None) -> str:
    parts = [_topic_detail(queue.fifo, queue.content_based_deduplication)]
    parts += [
        f"{key.removesuffix('_seconds').replace('_', ' ')} {value} s"
        for key, value in queue.settings.items()
    ]
    if dlq_name:
        parts.append(f"dead-letter queue {dlq_name} after {queue.max_receive_count} receives")
    return ", ".join(parts)


def _dead_letter_check(
    problems: _Problems,
    queue: QueueDefinition,
    file_queues: Mapping[str, QueueDefinition],
    known: _Known,
) -> str | None:
    """The DLQ's full name, if the queue has one that the file or the backend holds."""
    ref = queue.dead_letter_queue
    if ref is None:
        return None
    name = arn_name(ref) if ref.startswith("arn:") else ref
    if name in file_queues:
        return name
    there = known.queues.get(name)
    if there is None or (ref.startswith("arn:") and there.arn != ref):
        problems.add(
            f"{queue.path}.dead_letter_queue",
            f"no queue {name!r} in the file or in the backend.",
        )
        return None
    if there.fifo != queue.fifo:
        problems.add(
            f"{queue.path}.dead_letter_queue",
            "A FIFO queue needs a FIFO dead-letter queue, and a standard queue a standard one.",
        )
    return name


def _queue_differences(
    queue: QueueDefinition, there: Queue, dlq_name: str | None, known: _Known
) -> str:
    checks: list[tuple[str, Any, Any]] = [
        ("fifo", there.fifo, queue.fifo),
        ("content_based_deduplication", there.content_based_deduplication,
         queue.content_based_deduplication),
    ]  # fmt: skip
    for key, attribute, _, _ in QUEUE_SETTINGS:
        if key in queue.settings:
            have = there.attributes.get(attribute)
            checks.append((key, int(have) if have not in (None, "") else None, queue.settings[key]))
    have_dlq = arn_name(there.dead_letter_arn) if there.dead_letter_arn else None
    checks.append(("dead_letter_queue", have_dlq, dlq_name))
    if dlq_name is not None:
        checks.append(("max_receive_count", there.max_receive_count, queue.max_receive_count))
    return _differences(*checks)


def _subscription_plan(
    problems: _Problems,
    sub: SubscriptionDefinition,
    file_topics: Mapping[str, TopicDefinition],
    file_queues: Mapping[str, QueueDefinition],
    known: _Known,
) -> PlannedItem:
    topic_there = known.topics.get(sub.topic)
    topic_fifo: bool | None = None
    if sub.topic in file_topics:
        topic_fifo = file_topics[sub.topic].fifo
    elif topic_there is not None:
        topic_fifo = topic_there.fifo
    else:
        problems.add(f"{sub.path}.topic", f"no topic {sub.topic!r} in the file or in the backend.")
    endpoint_shown = sub.endpoint
    endpoint_there: str | None = sub.endpoint  # the endpoint as the backend lists it
    if sub.protocol == "sqs":
        name = arn_name(sub.endpoint) if sub.endpoint.startswith("arn:") else sub.endpoint
        endpoint_shown = name
        queue_there = known.queues.get(name)
        if name in file_queues:
            queue_fifo: bool | None = file_queues[name].fifo
            endpoint_there = queue_there.arn if queue_there is not None else None
        elif queue_there is not None and (
            not sub.endpoint.startswith("arn:") or queue_there.arn == sub.endpoint
        ):
            queue_fifo = queue_there.fifo
            endpoint_there = queue_there.arn
        else:
            problems.add(
                f"{sub.path}.endpoint", f"no queue {name!r} in the file or in the backend."
            )
            queue_fifo, endpoint_there = None, None
        if topic_fifo is not None and (sub.topic not in file_topics or name not in file_queues):
            _fifo_pair_check(problems, sub, topic_fifo=topic_fifo, queue_fifo=queue_fifo)
    elif topic_fifo and sub.topic not in file_topics:
        _fifo_pair_check(problems, sub, topic_fifo=True, queue_fifo=None)
    label = f"{sub.topic} → {sub.protocol}:{endpoint_shown}"
    existing = None
    if topic_there is not None and endpoint_there is not None:
        existing = known.subscriptions.get((topic_there.arn, sub.protocol, endpoint_there))
    detail = _subscription_detail(sub)
    if existing is None:
        return PlannedItem(kind="subscription", name=label, action="create", detail=detail)
    if not existing.pending_confirmation:
        have_policy = json.loads(existing.filter_policy) if existing.filter_policy else None
        differs = _differences(
            ("filter_policy", have_policy, sub.filter_policy),
            ("filter_policy_scope", existing.filter_policy_scope if have_policy else
             sub.filter_policy_scope, sub.filter_policy_scope),
            ("raw_message_delivery", existing.raw_message_delivery, sub.raw_message_delivery),
        )  # fmt: skip
        if differs:
            problems.add(sub.path, f"subscription {label} exists with {differs}.")
    return PlannedItem(kind="subscription", name=label, action="exists", detail=detail)


def _subscription_detail(sub: SubscriptionDefinition) -> str:
    parts = []
    if sub.filter_policy is not None:
        parts.append(f"filter policy on {sub.filter_policy_scope}")
    if sub.raw_message_delivery:
        parts.append("raw delivery")
    return ", ".join(parts) or "no filter"


# --- Import ------------------------------------------------------------------------------------


def definitions_import(conn: Connection, *, document: Any, dry_run: bool = False) -> ImportPlan:
    """Check ``document`` whole, then create what it has and the backend lacks.

    Returns the plan (``applied`` unless ``dry_run``). A file with any problem raises
    DefinitionsInvalid and creates nothing; a backend failure half way deletes what
    this import created, then raises.
    """
    conn.write_check()
    problems = _Problems()
    definitions = _parse(conn, document, problems)
    known = _Known(topology_get(conn))
    plan = _plan(definitions, known, problems)
    problems.raise_any()
    if dry_run or not plan.changes:
        return ImportPlan(items=plan.items, applied=not dry_run)
    created: list[tuple[str, str]] = []  # (kind, ARN or URL), in order of creation
    try:
        _apply(conn, definitions, plan, known, created)
    except BaseException:
        _rollback(conn, created)
        raise
    return ImportPlan(items=plan.items, applied=True)


def _apply(
    conn: Connection,
    definitions: Definitions,
    plan: ImportPlan,
    known: _Known,
    created: list[tuple[str, str]],
) -> None:
    creating = {(item.kind, item.name) for item in plan.items if item.action == "create"}
    topic_arns = {name: t.arn for name, t in known.topics.items()}
    queue_arns = {name: q.arn for name, q in known.queues.items()}
    new_queues: list[tuple[QueueDefinition, Queue]] = []
    for topic in definitions.topics:
        if ("topic", topic.name) in creating:
            made = topic_create(
                conn, name=topic.name, fifo=topic.fifo,
                content_based_deduplication=topic.content_based_deduplication,
            )  # fmt: skip
            created.append(("topic", made.arn))
            topic_arns[topic.name] = made.arn
    for queue in definitions.queues:
        if ("queue", queue.name) not in creating:
            continue
        dlq = queue.dead_letter_queue
        dlq_arn = queue_arns[arn_name(dlq) if dlq.startswith("arn:") else dlq] if dlq else None
        made_queue = queue_create(
            conn, name=queue.name, fifo=queue.fifo,
            content_based_deduplication=queue.content_based_deduplication,
            dead_letter_queue_arn=dlq_arn,
            max_receive_count=queue.max_receive_count if dlq_arn else None,
            **queue.settings,
        )  # fmt: skip
        created.append(("queue", made_queue.url))
        queue_arns[queue.name] = made_queue.arn
        new_queues.append((queue, made_queue))
    for sub, item in zip(
        definitions.subscriptions,
        [i for i in plan.items if i.kind == "subscription"],
        strict=True,
    ):
        if item.action != "create":
            continue
        endpoint = sub.endpoint
        if sub.protocol == "sqs":
            endpoint = queue_arns[arn_name(endpoint) if endpoint.startswith("arn:") else endpoint]
        made_sub = subscription_create(
            conn, topic_arn=topic_arns[sub.topic], protocol=sub.protocol, endpoint=endpoint,
            filter_policy=sub.filter_policy, filter_policy_scope=sub.filter_policy_scope,
            raw_message_delivery=sub.raw_message_delivery,
        )  # fmt: skip
        if made_sub.arn.startswith("arn:"):
            created.append(("subscription", made_sub.arn))
    for queue, made_queue in new_queues:
        _messages_send(conn, queue, made_queue)


def _messages_send(conn: Connection, queue: QueueDefinition, made: Queue) -> None:
    """Send the queue's messages in order, ten at a time; any refusal fails the import."""
    messages = queue.messages
    for start in range(0, len(messages), BATCH_MAX):
        entries = [
            BatchEntry(
                id=f"m{start + n}",
                body=m.body,
                attributes=m.attributes,
                message_group_id=m.message_group_id,
                deduplication_id=m.deduplication_id,
            )
            for n, m in enumerate(messages[start : start + BATCH_MAX])
        ]
        result = queue_send_batch(conn, queue_url=made.url, entries=entries)
        if result.failed:
            first = result.failed[0]
            index = int(first.id[1:])
            raise FlowdashError(
                f"{queue.path}.messages[{index}]: the backend refused it ({first.code}): "
                f"{first.message}",
                field=f"{queue.path}.messages[{index}]",
                code=first.code,
            )


def _rollback(conn: Connection, created: list[tuple[str, str]]) -> None:
    for kind, ref in reversed(created):
        try:
            if kind == "subscription":
                subscription_delete(conn, arn=ref)
            elif kind == "queue":
                queue_delete(conn, url=ref)
            else:
                topic_delete(conn, arn=ref)
        except FlowdashError:
            logger.exception("definitions import: could not delete %s %s again", kind, ref)


# --- Reading an upload -------------------------------------------------------------------------


def definitions_load(*, data: bytes | str) -> Any:
    """The JSON document in an uploaded file; InvalidInput naming the line if it is not JSON."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DefinitionsInvalid([("", "The file is not UTF-8 text.")]) from None
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise DefinitionsInvalid(
            [("", f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                  f"{exc.msg}).")]
        ) from None  # fmt: skip
    except RecursionError:
        raise DefinitionsInvalid([("", "The file is nested too deeply to read.")]) from None
