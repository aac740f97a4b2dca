"""A fast path for the embedded moto server: same answers, flat cost, bounded memory.

Stock moto 5.2.5, as measured for issue 11 (this machine's run: bench/RESULTS.md):

- every SQS call walks the queue's whole message list, reading the clock once per
  message: ReceiveMessage(10) takes ~0.5 s at 1,000 messages and ~1.7 s at 3,000;
- SNS builds an x509 certificate and an RSA key per delivery/subscription: a topic
  with five SQS subscriptions publishes ~65 messages/s;
- no message is ever freed: each one (and the copy made on every receive) stays in
  a class-level instance list, and SNS keeps every PEM and every publish.

With the fast path, SQS calls cost the same at any depth, fanout signs once per
publish, deleted messages and receive copies are freed, and SNS keeps its 1,000
most recent publishes per record. One record still grows: a queue remembers each
deleted receipt handle so that deleting it again succeeds, as on stock moto; it
now keeps a 64-bit digest, ~80 bytes per deleted message instead of ~280.

Each patch below changes how moto computes something, never what it answers, and
its comment says what it replaces and why, so it can be offered upstream as is.
They are class attribute swaps, kept with their originals, so ``fastpath_revert``
restores stock moto exactly. It is applied only to the moto versions in ``version``.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

try:  # Module paths only; the version guard decides whether their insides are used.
    from moto import backends as moto_backends
    from moto.moto_api._internal import mock_random
    from moto.sns import models as sns_models
    from moto.sqs import models as sqs_models
except ImportError:  # pragma: no cover - a moto whose layout we never saw
    moto_backends = mock_random = sns_models = sqs_models = None  # type: ignore[assignment]

from .version import moto_supported

logger = logging.getLogger(__name__)

#: Most recent SNS publishes/SMS/push messages kept per topic/backend/endpoint.
SNS_RECORD_LIMIT = 1_000

_MISSING = object()
_lock = threading.RLock()
_originals: list[tuple[Any, str, object]] = []


def fastpath_active() -> bool:
    """Whether moto currently runs with the fast path (what /healthz reports)."""
    return bool(_originals)


def fastpath_apply() -> bool:
    """Patch moto in this process; idempotent. Never raises: on an unknown moto it
    logs one warning and leaves moto stock, because a slow backend beats none."""
    with _lock:
        if _originals:
            return True
        if not moto_supported("fast path"):
            return False  # stock moto: slower as queues grow, but it answers
        try:
            for owner, name, value in _patches():
                original = owner.__dict__.get(name, _MISSING)
                if original is _MISSING and name != "__new__":
                    raise AttributeError(f"moto has no {owner.__name__}.{name}")
                _originals.append((owner, name, original))
                setattr(owner, name, value)
        except Exception:
            logger.warning(
                "moto fast path could not be applied: running on stock moto", exc_info=True
            )
            _revert_locked()
            return False
        return True


def fastpath_revert() -> None:
    """Restore every patched class attribute, so stock moto runs again."""
    with _lock:
        _revert_locked()


def _revert_locked() -> None:
    while _originals:
        owner, name, original = _originals.pop()
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    for cls in (getattr(sqs_models, "Message", None), getattr(sns_models, "SMS", None)):
        tracked = cls.__dict__.get("instances_tracked") if cls is not None else None
        if isinstance(tracked, _WeakInstances):
            cls.instances_tracked = list(tracked)  # type: ignore[union-attr]


# --- SQS: compute each queue attribute only when read, with one clock read per count

_DEFERRED = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    }
)
_UNRESOLVED = object()
_snake_names: dict[str, str] = {}


def _snake(name: str) -> str:
    # camelcase_to_underscores runs a regex; the attribute names are a fixed set.
    snake = _snake_names.get(name)
    if snake is None:
        snake = _snake_names[name] = sqs_models.camelcase_to_underscores(name)
    return snake


class _QueueAttributes(dict):  # type: ignore[type-arg]
    """Queue.attributes whose message counts are computed on first read.

    Callers mostly read one static field (ContentBasedDeduplication on every send,
    MessageRetentionPeriod per received message); each read used to rebuild all
    three counts. Bulk reads (items, iteration, json, copies) resolve every count
    first, after which this is an ordinary dict in stock key order.
    """

    __slots__ = ("_queue", "_unresolved")

    def __init__(self, queue: Any, values: dict[str, Any]) -> None:
        super().__init__(values)
        self._queue = queue
        self._unresolved = {key for key, value in values.items() if value is _UNRESOLVED}

    def _resolve(self, key: object) -> None:
        if key in self._unresolved:
            dict.__setitem__(self, key, getattr(self._queue, _snake(key)))
            self._unresolved.discard(key)

    def _resolved(self) -> _QueueAttributes:
        for key in list(self._unresolved):
            self._resolve(key)
        return self

    def __getitem__(self, key: Any) -> Any:
        self._resolve(key)
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._resolve(key)
        return dict.get(self, key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        self._resolve(key)
        return dict.pop(self, key, *default)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._unresolved.discard(key)
        dict.__setitem__(self, key, value)

    def __iter__(self) -> Iterator[Any]:  # overriding it also routes dict(x) via getitem
        return dict.__iter__(self._resolved())

    def keys(self) -> Any:
        return dict.keys(self._resolved())

    def values(self) -> Any:
        return dict.values(self._resolved())

    def items(self) -> Any:
        return dict.items(self._resolved())

    def copy(self) -> dict[str, Any]:
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        return dict.__eq__(self._resolved(), other)

    def __ne__(self, other: object) -> bool:
        return dict.__ne__(self._resolved(), other)

    __hash__ = None

    def __or__(self, other: Any) -> Any:
        return self.copy() | other

    def __ror__(self, other: Any) -> Any:
        return other | self.copy()

    def __repr__(self) -> str:
        return dict.__repr__(self._resolved())

    def __reduce_ex__(self, protocol: Any) -> Any:  # copies and pickles are plain dicts
        return (dict, (self.copy(),))


def _queue_attributes(self: Any) -> dict[str, Any]:
    # Replaces Queue.attributes, which counted visible, in-flight and delayed messages
    # (one unix_time_millis() call per message each) on every access, even when the
    # caller wanted one static field. Same keys, order and values; counts are lazy.
    result: dict[str, Any] = {}
    names = list(self.BASE_ATTRIBUTES)
    if self.fifo_queue:
        names += self.FIFO_ATTRIBUTES
    if self.kms_master_key_id:
        names += self.KMS_ATTRIBUTES
    for name in names:
        result[name] = _UNRESOLVED if name in _DEFERRED else getattr(self, _snake(name))
    if self.policy:
        result["Policy"] = self.policy
    if self.redrive_policy:
        result["RedrivePolicy"] = json.dumps(self.redrive_policy)
    for key, value in result.items():
        if isinstance(value, bool):
            result[key] = str(value).lower()
    return _QueueAttributes(self, result)


# The three scans below replace Message.visible / Message.delayed per message (each
# building two datetimes, ~4.4 us) with one clock read per scan: the same comparisons
# against one instant, ~20x cheaper, so a 3,000-message queue costs ~0.2 ms to count.
def _visible_messages(self: Any) -> list[Any]:
    now = sqs_models.unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _count_delayed(self: Any) -> int:
    now = sqs_models.unix_time_millis()
    return len([m for m in self._messages if now < m.delayed_until])


def _count_not_visible(self: Any) -> int:
    now = sqs_models.unix_time_millis()
    return len([m for m in self._messages if not now > m.visible_at])


def _had_receipt_handle(self: Any, receipt_handle: str) -> bool:
    # Replaces `receipt_handle in self.all_receipt_handles`, which built a new list
    # per message on every delete/visibility change scan. Same answer, no allocation.
    return receipt_handle == self.receipt_handle or receipt_handle in self._old_receipt_handles


class _HandleDigests:
    """Queue.deleted_messages holding each handle's 64-bit hash, not the handle.

    Stock keeps every deleted 185-character receipt handle so a repeated
    DeleteMessage still succeeds; a digest keeps that answer (a false match has
    probability ~n/2**64 for n kept handles) in about a quarter of the memory.
    """

    __slots__ = ("_digests",)

    def __init__(self, handles: Iterable[object] = ()) -> None:
        self._digests = {hash(handle) for handle in handles}

    def __contains__(self, handle: object) -> bool:
        return hash(handle) in self._digests

    def update(self, handles: Iterable[object]) -> None:
        self._digests.update(map(hash, handles))

    def add(self, handle: object) -> None:
        self._digests.add(hash(handle))

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._digests))

    def __len__(self) -> int:
        return len(self._digests)


def _delete_message(self: Any, receipt_handle: str) -> None:
    # Replaces Queue.delete_message, which scanned the queue twice (any(), then a
    # rebuild) and stored full handles. One scan; the list is still replaced, not
    # mutated, so a concurrent reader keeps a consistent list as before.
    deleted = self.deleted_messages
    if not isinstance(deleted, _HandleDigests):
        deleted = self.deleted_messages = _HandleDigests(deleted)
    if receipt_handle in deleted:
        return  # Already deleted - gracefully handle deleting it again
    # Under the lock SendMessage appends with: replacing the list from a copy read
    # before a concurrent append would drop the appended message.
    with self._messages_lock:
        messages = self._messages
        hits = [m for m in messages if _had_receipt_handle(m, receipt_handle)]
        if not hits:
            raise sqs_models.ReceiptHandleIsInvalid()
        for message in hits:
            self.pending_messages.discard(message)
            deleted.update(message.all_receipt_handles)
        self._messages = [m for m in messages if m not in hits]


def _get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> Any:
    # Replaces SQSBackend.get_queue_attributes, which rebuilt queue.attributes once per
    # requested name plus twice per name found. Builds it once; same validation.
    queue = self.get_queue(queue_name)
    if not attribute_names:
        return {}
    valid_names = ["All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES]
    invalid_name = next((name for name in attribute_names if name not in valid_names), None)
    if invalid_name or invalid_name == "":
        raise sqs_models.InvalidAttributeName(invalid_name)
    queue_attributes = queue.attributes
    if "All" in attribute_names:
        return queue_attributes
    attributes = {}
    for name in attribute_names:
        if name in queue_attributes and queue_attributes.get(name) is not None:
            attributes[name] = queue_attributes.get(name)
    return attributes


def _is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
    # Replaces a get_queue_attributes() call (three attribute-dict builds) made for
    # every message ReceiveMessage returns, to read one integer.
    retention_period = self.get_queue(queue_name).message_retention_period
    return not retention_period + message.sent_timestamp / 1000 <= sqs_models.unix_time()


# --- Instance tracking: observe live models without keeping them alive


class _WeakInstances:
    """A model's ``instances_tracked`` that holds weak references only.

    BaseModel.__new__ appends every instance to a class list that only a reset
    clears, so every SQS message and every per-receive copy lived forever (~2.4 KB
    each). /moto-api/data.json still lists the live ones.
    """

    def __init__(self, instances: Iterable[object] = ()) -> None:
        self._lock = threading.Lock()
        self._live: weakref.WeakValueDictionary[int, object] = weakref.WeakValueDictionary()
        self._ids = itertools.count()
        for instance in instances:
            self.append(instance)

    def append(self, instance: object) -> None:
        with self._lock:
            self._live[next(self._ids)] = instance

    def __iter__(self) -> Iterator[object]:
        while True:
            try:
                with self._lock:
                    return iter(list(self._live.values()))
            except RuntimeError:  # an instance died mid-copy in another thread
                continue

    def __len__(self) -> int:
        return len(self._live)


def _weakly_tracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    # Replaces BaseModel.__new__ for the per-message models (SQS Message, SNS SMS):
    # it appended every instance, including the deepcopy ReceiveMessage makes of
    # each message, to a list that owned them until a reset. Tracked weakly, an
    # instance lives as long as moto's own state (a queue, a record) refers to it.
    instance: object = object.__new__(cls)
    tracked = cls.__dict__.get("instances_tracked")
    if not isinstance(tracked, _WeakInstances):  # first use, or after a moto reset
        with _lock:
            tracked = cls.__dict__.get("instances_tracked")
            if not isinstance(tracked, _WeakInstances):
                tracked = _WeakInstances(tracked or ())
                cls.instances_tracked = tracked  # type: ignore[attr-defined]
    tracked.append(instance)
    return instance


# --- SNS: one signing key and certificate per region, one signature per publish


class _RegionSigner:
    """The key and certificate that sign every notification of one region."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # Named from os randomness: moto's seeded stream gets no extra draw.
        self.key_name = f"SimpleNotificationService-{uuid.uuid4().hex}.pem"
        self.pem = b""
        self.renew_at = sns_models.utcnow()

    def certificate(self) -> bytes:
        """The PEM to serve, renewed daily so it is always valid for ~a year, as stock's."""
        now = sns_models.utcnow()
        if now >= self.renew_at:  # same subject, issuer and 365-day validity as stock
            cert = (
                x509.CertificateBuilder()
                .subject_name(
                    x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
                )
                .issuer_name(
                    x509.Name(
                        [
                            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon"),
                            x509.NameAttribute(NameOID.COMMON_NAME, "Amazon RSA 2048 M01"),
                        ]
                    )
                )
                .public_key(self.key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now)
                .not_valid_after(now + timedelta(days=365))
                .sign(self.key, hashes.SHA256())
            )
            self.pem = cert.public_bytes(serialization.Encoding.PEM)
            self.renew_at = now + timedelta(days=1)
        return self.pem


_signers: dict[str, _RegionSigner] = {}
_last_signature = threading.local()


def _signer(region: str) -> _RegionSigner:
    signer = _signers.get(region)
    if signer is None:
        with _lock:
            signer = _signers.get(region) or _signers.setdefault(region, _RegionSigner())
    # Served like stock's certificates: an unauthenticated GET, default account.
    keys = sns_models.sns_backends[sns_models.DEFAULT_ACCOUNT_ID][region]._message_public_keys
    if signer.key_name not in keys or sns_models.utcnow() >= signer.renew_at:
        keys[signer.key_name] = signer.certificate()  # first use, a reset, or renewal
    return signer


def _get_post_data(
    self: Any,
    message: str,
    message_id: str,
    subject: str | None,
    message_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    # Replaces Subscription.get_post_data, which per delivery built and signed a new
    # certificate (keeping its PEM forever) and RSA-signed the envelope, with a key
    # generated per subscription (~37 ms at first publish). Same fields and signed
    # string; the deliveries of one publish share its timestamp and signature.
    region = self.topic.sns_backend.region_name
    signer = _signer(region)
    mock_random.uuid4()  # stock's per-delivery draw, so seeded MessageIds stay the same
    signature_version = "2"
    cache_key = (signer.key_name, self.topic.arn, message_id, message)
    last = getattr(_last_signature, "value", None)
    if last is not None and last[0] == cache_key:
        timestamp, signature = last[1], last[2]
    else:
        timestamp = sns_models.iso_8601_datetime_with_milliseconds()
        string_to_sign = (
            f"Message\n{message}\nMessageId\n{message_id}\nTimestamp\n{timestamp}\n"
            f"TopicArn\n{self.topic.arn}\nType\nNotification\n"
        )
        raw = signer.key.sign(string_to_sign.encode("UTF-8"), padding.PKCS1v15(), hashes.SHA256())
        signature = base64.b64encode(raw).decode("utf-8")
        _last_signature.value = (cache_key, timestamp, signature)
    post_data: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": self.topic.arn,
        "Message": message,
        "Timestamp": timestamp,
        "SignatureVersion": signature_version,
        "Signature": signature,
        "SigningCertURL": f"https://sns.{region}.amazonaws.com/{signer.key_name}",
        "UnsubscribeURL": (
            "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
            f"arn:aws:sns:us-east-1:{self.account_id}:{self.topic.name}"
            ":2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
        ),
    }
    if subject:
        post_data["Subject"] = subject
    if message_attributes:
        post_data["MessageAttributes"] = message_attributes
    return post_data


def _trim(records: Any) -> None:
    """Drop the oldest entries of a list or insertion-ordered dict beyond the limit."""
    if isinstance(records, list):
        excess = len(records) - SNS_RECORD_LIMIT
        if excess > 0:
            del records[:excess]
        return
    while len(records) > SNS_RECORD_LIMIT:
        records.pop(next(iter(records)), None)


def _keeping_recent(original: Callable[..., Any], *fields: str) -> Callable[..., Any]:
    # Wraps a publish method that appends to a per-publish record (Topic.
    # sent_notifications, SNSBackend.sms_messages, PlatformEndpoint.messages) so it
    # keeps the SNS_RECORD_LIMIT most recent entries instead of all of them.
    def publish(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        for field in fields:
            _trim(getattr(self, field))
        return result

    publish.__wrapped__ = original  # type: ignore[attr-defined]
    return publish


# --- The server's request routing


def _listed_once(original: Callable[[], Iterable[str]]) -> Callable[[], tuple[str, ...]]:
    # Replaces moto.backends.list_of_moto_modules, which the server calls twice per
    # request to route it: each call listed moto's package folder and stat-ed its
    # ~175 entries (~1 ms a request). An installed package's folders do not change
    # while it runs, so they are listed once.
    listed: list[tuple[str, ...]] = []

    def list_of_moto_modules() -> tuple[str, ...]:
        if not listed:
            listed.append(tuple(original()))
        return listed[0]

    return list_of_moto_modules


def _patches() -> list[tuple[Any, str, object]]:
    queue, message, backend = sqs_models.Queue, sqs_models.Message, sqs_models.SQSBackend
    return [
        (
            moto_backends,
            "list_of_moto_modules",
            _listed_once(moto_backends.__dict__["list_of_moto_modules"]),
        ),
        (queue, "attributes", property(_queue_attributes)),
        (queue, "messages", property(_visible_messages)),
        (queue, "approximate_number_of_messages_delayed", property(_count_delayed)),
        (queue, "approximate_number_of_messages_not_visible", property(_count_not_visible)),
        (queue, "delete_message", _delete_message),
        (message, "had_receipt_handle", _had_receipt_handle),
        (message, "__new__", staticmethod(_weakly_tracked_new)),
        (backend, "get_queue_attributes", _get_queue_attributes),
        (
            backend,
            "is_message_valid_based_on_retention_period",
            _is_message_valid_based_on_retention_period,
        ),
        (sns_models.Subscription, "get_post_data", _get_post_data),
        (sns_models.SMS, "__new__", staticmethod(_weakly_tracked_new)),
        (
            sns_models.Topic,
            "publish",
            _keeping_recent(sns_models.Topic.__dict__["publish"], "sent_notifications"),
        ),
        (
            sns_models.SNSBackend,
            "publish",
            _keeping_recent(
                sns_models.SNSBackend.__dict__["publish"], "sms_messages", "sms_message_objects"
            ),
        ),
        (
            sns_models.PlatformEndpoint,
            "publish",
            _keeping_recent(sns_models.PlatformEndpoint.__dict__["publish"], "messages"),
        ),
    ]
