"""The embedded backend's state kept across restarts: ``var/embedded-state.json``.

moto keeps everything in memory, so without this a Ctrl-C (or a crash) loses the
class's topics, queues, subscriptions and every message waiting in a queue. Here
moto's own models are written to one JSON file and built again, in process,
before the server accepts its first request, so what boto3 sees afterwards is
what it saw before: the same ARNs and queue URLs, subscription ARNs, message ids,
bodies, message and system attributes, FIFO group and deduplication ids, sequence
numbers, sent timestamps, delays (``delayed_until``, epoch ms) and receive counts.

What is saved, per account and region (moto models, read from their ``__dict__``):

- SQS ``Queue``: every plain field (attributes, tags, policy, redrive policy,
  created/modified timestamps) and its messages, oldest first;
- SQS ``Message``: every plain field except what belongs to one receive: an
  in-flight message comes back visible, as its receipt handle is gone with the
  process that handed it out (``visible_at``, ``receipt_handle``);
- SNS ``Topic``: every plain field (attributes, FIFO, content-based dedup, tags,
  policy); not its record of past publishes (``sent_notifications``);
- SNS ``Subscription``: every plain field (filter policy and scope, raw delivery,
  confirmation), with its topic's ARN;
- SNS ``PlatformApplication`` (mobile push): name, platform, ARN and attributes, but
  not its credentials (``PlatformCredential``, ``PlatformPrincipal``), see
  ``_application_fields``;
- SNS ``PlatformEndpoint`` (a device): ARN and id, token, custom user data and
  attributes (``Enabled``), with its application's ARN. So a phone registered before a
  restart is still a device of the class, subscribed and switched on or off as it was.

Not saved: deleted receipt handles (deleting one again after a restart answers
ReceiptHandleIsInvalid), SMS and mobile-push records (what was sent), platform
credentials, and moto's other services. "Plain" means JSON and bytes (base64);
anything else a model holds (locks, links to other models) is rebuilt or dropped.

When it is written: the broker reports every change it sees (``broker.
extra_listeners``: creates, deletes, attribute changes, sends, receives, deletes,
visibility changes, DLQ moves), which only marks the state dirty; a thread writes
a dirty state every ``WRITE_INTERVAL`` seconds (longer when a write itself takes
long: at most a fifth of the time goes to writing), and once more at a clean
stop. After a SIGKILL the topology is all back and the messages up to the last
write. Changes the broker does not report (tags, permissions) are saved with the
next reported change or at stop. Each write is atomic: a temporary file in the
same directory, fsync'ed, then renamed over the old one.

The snapshot is read while moto's request threads run, without a global lock: a
message moving to its DLQ during a write can be in both queues or in neither in
that one file; the next write is right again.

Cost, measured on this 2-core machine with 3,000 messages of 200 bytes (a 1.7 MB
file): ~130 ms to capture and write (~45 us a message, in the writer thread, which
holds the GIL meanwhile), ~90 ms to read back and restore at start.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..reports import Report
from . import broker
from .version import moto_supported, moto_version

logger = logging.getLogger(__name__)

STATE_FILE_NAME = "embedded-state.json"
STATE_FORMAT = "flowdash-embedded-state"
STATE_VERSION = 1
#: Seconds between writes while something changes.
WRITE_INTERVAL = 2.0
#: A write may take at most this share of the time: 50 ms of writing waits 250 ms at least.
WRITE_SHARE = 0.2

# Fields of moto's models that are not state: locks, links to other models (rebuilt from
# ARNs), what one receive handed out, and records that only grow.
_QUEUE_SKIP = frozenset(
    {
        "_messages",
        "_pending_messages",
        "deleted_messages",
        "_messages_lock",
        "dead_letter_queue",
        "lambda_event_source_mappings",
        "_flowdash_scan_lock",
    }
)
_MESSAGE_SKIP = frozenset({"receipt_handle", "_old_receipt_handles", "visible_at", "user_id"})
_TOPIC_SKIP = frozenset({"sns_backend", "sent_notifications"})
_SUBSCRIPTION_SKIP = frozenset({"topic", "_filter_policy_matcher", "_flowdash_filter_policy"})
#: An endpoint's link to its application is rebuilt from the ARN; ``messages`` is the
#: record of pushes sent (not state, as a topic's ``sent_notifications``); ``id`` is a
#: UUID, saved as text.
_ENDPOINT_SKIP = frozenset({"application", "messages", "id"})
_BYTES = "$bytes"


class _NotPlain(Exception):
    """A value that is neither JSON nor bytes: its field is not state (or not ours)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Restored:
    """What a restore put back."""

    topics: int = 0
    queues: int = 0
    subscriptions: int = 0
    messages: int = 0
    applications: int = 0
    endpoints: int = 0

    def describe(self, path: Path) -> str:
        """What came back; mobile push is named only when there was some."""
        counted = [
            (self.topics, "topic"),
            (self.queues, "queue"),
            (self.subscriptions, "subscription"),
            (self.messages, "message"),
        ]
        if self.applications or self.endpoints:
            counted += [(self.applications, "platform application"), (self.endpoints, "device")]
        counts = ", ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in counted)
        return f"restored {counts} from {path_shown(path)}"


def path_shown(path: Path) -> str:
    """The path as a user typed it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --- Plain values -------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v) for k, v in value.items()}
    raise _NotPlain(type(value).__name__)


def _unplain(value: Any) -> Any:
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(_BYTES), str):
            return base64.b64decode(value[_BYTES])
        return {k: _unplain(v) for k, v in value.items()}
    return value


def _fields(model: Any, skip: frozenset[str]) -> dict[str, Any]:
    """A model's state: its plain instance fields, minus ``skip``."""
    fields: dict[str, Any] = {}
    for name, value in list(vars(model).items()):
        if name in skip:
            continue
        try:
            fields[name] = _plain(value)
        except _NotPlain as exc:
            logger.debug("not saved: %s.%s (%s)", type(model).__name__, name, exc)
    return fields


def _application_fields(app: Any) -> dict[str, Any]:
    """A platform application's state without its credentials.

    ``PlatformCredential`` and ``PlatformPrincipal`` are not written: the state file is
    plain text in ``var/``, and a user may have typed a real FCM key or Apple key into
    the form. Nothing needs them to recreate the application: the embedded moto sends
    no push (it records), checks no credential, and every read of an application leaves
    them out (``embedded.push``), so a restored application without them answers every
    client exactly as before. (On ``aws`` they live in SNS itself; nothing is saved.)
    """
    from ..push import SECRET_ATTRIBUTES

    fields = _fields(app, frozenset())
    fields["attributes"] = {
        k: v for k, v in (fields.get("attributes") or {}).items() if k not in SECRET_ATTRIBUTES
    }
    return fields


def _endpoint_fields(endpoint: Any) -> dict[str, Any]:
    return {
        "application_arn": endpoint.application.arn,
        "id": str(endpoint.id),
        "fields": _fields(endpoint, _ENDPOINT_SKIP),
    }


# --- Capture --------------------------------------------------------------------------------


def _regions(backends: Any) -> Iterable[tuple[str, str, Any]]:
    """(account, region, backend) for every backend moto has built so far."""
    for account, by_region in list(backends.items()):
        for region, backend in list(by_region.items()):
            yield account, region, backend


def state_capture() -> dict[str, Any]:
    """The embedded SNS and SQS state, as plain data (``state_restore`` takes it back)."""
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends

    sqs: list[dict[str, Any]] = []
    for account, region, backend in _regions(sqs_backends):
        queues = [
            {
                "fields": _fields(queue, _QUEUE_SKIP),
                "messages": [_fields(m, _MESSAGE_SKIP) for m in list(queue._messages)],
            }
            for queue in list(backend.queues.values())
        ]
        if queues:
            sqs.append({"account": account, "region": region, "queues": queues})
    sns: list[dict[str, Any]] = []
    for account, region, backend in _regions(sns_backends):
        topics = [_fields(topic, _TOPIC_SKIP) for topic in list(backend.topics.values())]
        subscriptions = [
            {"topic_arn": sub.topic.arn, "fields": _fields(sub, _SUBSCRIPTION_SKIP)}
            for sub in list(backend.subscriptions.values())
        ]
        applications = [_application_fields(a) for a in list(backend.applications.values())]
        endpoints = [_endpoint_fields(e) for e in list(backend.platform_endpoints.values())]
        if topics or subscriptions or applications or endpoints:
            sns.append(
                {
                    "account": account,
                    "region": region,
                    "topics": topics,
                    "subscriptions": subscriptions,
                    "applications": applications,
                    "endpoints": endpoints,
                }
            )
    return {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "moto": moto_version(),
        "saved_at": time.time(),
        "sqs": sqs,
        "sns": sns,
    }


# --- Restore --------------------------------------------------------------------------------


class StateUnreadable(ValueError):
    """The state file is not one this module wrote."""


def state_restore(*, state: dict[str, Any]) -> Restored:
    """Build moto's models from ``state_capture``'s data; resources of the same name
    are replaced. Call before the server takes requests: nothing here is reported."""
    from moto.sns.models import (
        PlatformApplication,
        PlatformEndpoint,
        Subscription,
        Topic,
        sns_backends,
    )
    from moto.sqs.models import Message, Queue, sqs_backends

    if state.get("format") != STATE_FORMAT or not isinstance(state.get("version"), int):
        raise StateUnreadable("not a Flowdash embedded-state file")
    if state["version"] > STATE_VERSION:
        raise StateUnreadable(
            f"written by a newer Flowdash (version {state['version']}, this one reads "
            f"{STATE_VERSION})"
        )
    if state.get("moto") != moto_version():
        logger.warning(
            "embedded state was saved with moto %s, this is moto %s: restoring anyway",
            state.get("moto"),
            moto_version(),
        )
    topics = queues = subscriptions = messages = applications = endpoints = 0
    restored_queues: list[Any] = []
    for region_state in state.get("sqs", []):
        account, region = region_state["account"], region_state["region"]
        sqs_backend = sqs_backends[account][region]
        for saved in region_state.get("queues", []):
            fields = _unplain(saved["fields"])
            # moto declares its models' CloudFormation hooks abstract, yet builds them.
            queue = Queue(fields["_name"], region=region, account_id=account)  # type: ignore[abstract]
            queue.__dict__.update(fields)
            queue._messages = [_message(Message, m) for m in saved.get("messages", [])]
            sqs_backend.queues[queue.name] = queue
            restored_queues.append(queue)
            queues += 1
            messages += len(queue._messages)
    for queue in restored_queues:  # once every queue exists: link each to its DLQ
        target = (queue.redrive_policy or {}).get("deadLetterTargetArn", "")
        if target:
            queue.dead_letter_queue = _queue_by_arn(sqs_backends, target)
            if queue.dead_letter_queue is None:
                logger.warning("restored %s without its DLQ %s (gone)", queue.name, target)
    for region_state in state.get("sns", []):
        account, region = region_state["account"], region_state["region"]
        sns_backend = sns_backends[account][region]
        for fields in map(_unplain, region_state.get("topics", [])):
            topic = Topic(fields["name"], sns_backend)  # type: ignore[abstract]  # as Queue's
            topic.__dict__.update(fields)
            sns_backend.topics[topic.arn] = topic
            topics += 1
        for saved in region_state.get("subscriptions", []):
            parent = sns_backend.topics.get(saved["topic_arn"])
            if parent is None:
                logger.warning("not restored: subscription to %s (topic gone)", saved["topic_arn"])
                continue
            fields = _unplain(saved["fields"])
            sub = Subscription(account, parent, fields["endpoint"], fields["protocol"])
            sub.__dict__.update(fields)
            # ``filtering`` evaluates the policy from ``attributes``; moto's matcher stays off.
            sub._filter_policy_matcher = None
            sns_backend.subscriptions[sub.arn] = sub
            subscriptions += 1
        for fields in map(_unplain, region_state.get("applications", [])):
            app = PlatformApplication(
                account, region, fields["name"], fields["platform"], fields["attributes"]
            )
            app.__dict__.update(fields)
            sns_backend.applications[app.arn] = app
            applications += 1
        for saved in region_state.get("endpoints", []):
            application = sns_backend.applications.get(saved["application_arn"])
            if application is None:
                logger.warning("not restored: device of %s (gone)", saved["application_arn"])
                continue
            fields = _unplain(saved["fields"])
            endpoint = PlatformEndpoint(
                account, region, application, fields["custom_user_data"], fields["token"],
                fields["attributes"],
            )  # fmt: skip
            endpoint.__dict__.update(fields)
            endpoint.id = uuid.UUID(saved["id"])
            sns_backend.platform_endpoints[endpoint.arn] = endpoint
            endpoints += 1
    return Restored(
        topics=topics, queues=queues, subscriptions=subscriptions, messages=messages,
        applications=applications, endpoints=endpoints,
    )  # fmt: skip


def _message(message_cls: Any, saved: dict[str, Any]) -> Any:
    fields = _unplain(saved)
    message = message_cls(fields["id"], fields["body"])
    message.__dict__.update(fields)
    message.visible_at = 0.0  # in flight before: visible now, its receipt handle is gone
    return message


def _queue_by_arn(sqs_backends: Any, arn: str) -> Any:
    parts = arn.split(":")
    if len(parts) != 6:
        return None
    return sqs_backends[parts[4]][parts[3]].queues.get(parts[5])


# --- The file -------------------------------------------------------------------------------


def state_save(*, path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a reader (or a crash) sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # One string, then one write: ~3x faster than json.dump's many small writes. ASCII, so
    # a body with a lone surrogate (moto does not refuse one) is still written.
    text = json.dumps(state, separators=(",", ":"))
    with temporary.open("w", encoding="ascii") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def state_load(*, path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none. Raises StateUnreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise StateUnreadable(f"not JSON: {exc}") from None
    if not isinstance(state, dict):
        raise StateUnreadable("not a JSON object")
    return state


# --- Keeping it -----------------------------------------------------------------------------


class StateKeeper:
    """Restores the state at start, writes it while it changes and once at stop.

    Needs the broker's hooks (to hear of changes) and a moto whose models were read
    (``version``); ``supported()`` says whether both hold.
    """

    def __init__(self, *, path: Path, interval: float = WRITE_INTERVAL) -> None:
        self.path = Path(path)
        self.interval = interval
        #: What ``restore()`` said, for the start-up banner.
        self.note: str | None = None
        self._dirty = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._save_lock = threading.Lock()
        self._pause = interval

    @staticmethod
    def supported() -> bool:
        return broker.broker_active() and moto_supported("persistence of the embedded state")

    def restore(self) -> Restored | None:
        """Put the saved state back; None when there was none. A file that cannot be
        read is moved aside (``.unreadable-<time>``), never overwritten, and the
        server starts empty."""
        shown = path_shown(self.path)
        try:
            state = state_load(path=self.path)
            if state is None:
                self.note = f"no saved state yet; it will be kept in {shown}"
                return None
            restored = state_restore(state=state)
        except Exception as exc:  # whatever is wrong with the file, Flowdash still starts
            aside = self.path.with_name(f"{self.path.name}.unreadable-{int(time.time())}")
            os.replace(self.path, aside)
            self.note = f"could not restore {shown} ({exc}); moved it to {path_shown(aside)}"
            logger.warning("embedded state: %s", self.note, exc_info=True)
            return None
        self.note = restored.describe(self.path)
        logger.info("embedded state: %s", self.note)
        return restored

    def start(self) -> None:
        broker.extra_listeners.append(self._changed)
        self._thread = threading.Thread(
            target=self._run, name="flowdash-embedded-state", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the writer and write once more (call after the server stopped)."""
        if self._changed in broker.extra_listeners:
            broker.extra_listeners.remove(self._changed)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.save()

    def save(self) -> None:
        """Write the state now (whatever changed); logs instead of raising."""
        with self._save_lock:
            self._dirty = False  # before the capture: a change during it marks it again
            started = time.monotonic()
            try:
                state_save(path=self.path, state=state_capture())
            except Exception:
                self._dirty = True
                logger.exception("embedded state: could not write %s", self.path)
            took = time.monotonic() - started
            self._pause = max(self.interval, took / WRITE_SHARE)

    def _changed(self, report: Report) -> None:
        self._dirty = True

    def _run(self) -> None:
        while not self._stopping.wait(self._pause):
            if self._dirty:
                self.save()
