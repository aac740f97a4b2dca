"""Corrections to moto where it answers differently from SQS, for the embedded backend.

Unlike the fast path (which changes only how moto computes), these change what
moto answers, so each fixes a behaviour a class would otherwise be shown wrong,
and says what AWS does. They are applied with the embedded server, only to the
moto versions they were checked against, and are reversible for tests.

1. FIFO order after a visibility timeout lapses (moto 5.2.5). ``Queue.
   pending_message_groups`` counts every message in ``_pending_messages``,
   including ones whose visibility timeout has lapsed but that ReceiveMessage
   has not yet reached in its scan. When a batch of one group (b0, b1, b2)
   lapses together, the scan skips b0 and b1 because b1 and b2 still "lock" the
   group, and returns b2 first: out of order. SQS unlocks a group once none of
   its messages is in flight, and returns the group from its oldest message,
   several of its messages in one batch if there are. Fix: when a receive asks
   which groups are locked, messages that are visible again leave the pending
   set first, so they lock nothing and the scan takes the group in order.

2. Concurrent receives (moto 5.2.5). ReceiveMessage checks that a message is
   visible and only later marks it received, with nothing in between to stop
   another thread: two workers polling one queue were handed the same message
   (1,500 messages drained by six threads came out as 1,501-1,504), and two
   long polls could each take messages of the same FIFO group. SQS hands a
   message to one receiver per visibility timeout. Fix: one receive at a time
   scans a queue; a long poll gives the queue up while it waits. (A duplicate
   is still seen now and then in the test suite, after other tests ran in the
   process; not explained yet.)

3. Concurrent SNS subscribes and device registrations (moto 5.2.5). Subscribe
   looks for an existing subscription by iterating ``SNSBackend.subscriptions``
   (an OrderedDict) while other request threads add to it; CreatePlatformEndpoint
   iterates ``platform_endpoints`` the same way, and SetSubscriptionAttributes (which
   Subscribe calls for its attributes) every subscription. A class of phones
   registering and subscribing at once failed some of them with HTTP 500
   ("OrderedDict mutated during iteration"), from about 150 concurrent phones on.
   SNS takes them all. Fix: a backend's ``subscriptions``, ``platform_endpoints`` and
   ``applications`` are dicts whose iteration scans a copy taken at once
   (``_SnapshotDict``), set up as each SNS backend is made (a moto reset makes new
   ones). No method is wrapped, so wrappers applied after these fixes stay intact.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from .version import moto_supported

logger = logging.getLogger(__name__)

_originals: dict[str, Any] = {}


def _pending_message_groups(self: Any) -> set[str]:
    # ReceiveMessage reads this before its scan; dropping lapsed messages here means
    # the scan neither skips them nor re-locks the group as it reaches them.
    # Concurrent receives change the set meanwhile: read it through a copy (list() of a
    # set copies without running Python code, so no other thread gets in between).
    pending = list(self._pending_messages)
    self._pending_messages.difference_update([m for m in pending if m.visible])
    return {m.group_id for m in pending if m.group_id is not None and not m.visible}


_locks_guard = threading.Lock()
_scanning = threading.local()  # the queue lock this thread's receive holds, if any


def _scan_lock(queue: Any) -> threading.Lock:
    lock: threading.Lock | None = queue.__dict__.get("_flowdash_scan_lock")
    if lock is None:
        with _locks_guard:
            lock = queue.__dict__.setdefault("_flowdash_scan_lock", threading.Lock())
    return lock


def _receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
    lock = _scan_lock(self.get_queue(queue_name))
    with lock:
        _scanning.lock = lock
        try:
            return _originals["receive_message"](self, queue_name, *args, **kwargs)
        finally:
            _scanning.lock = None


def _wait_for_messages(self: Any, timeout: int) -> None:
    lock = getattr(_scanning, "lock", None)
    if lock is None:
        _originals["wait_for_messages"](self, timeout)
        return
    lock.release()  # let other receives scan while this long poll waits
    try:
        _originals["wait_for_messages"](self, timeout)
    finally:
        lock.acquire()


class _SnapshotDict(OrderedDict):  # type: ignore[type-arg]
    """An OrderedDict whose iteration goes over a copy taken at once: ``list()`` of a
    dict view runs in C without letting another thread in, so a request thread that adds
    an entry meanwhile no longer breaks a scan. Writes and lookups are a dict's."""

    def __iter__(self) -> Iterator[Any]:
        return iter(list(super().keys()))

    def keys(self) -> Any:
        return list(super().keys())

    def values(self) -> Any:
        return list(super().values())

    def items(self) -> Any:
        return list(super().items())


#: SNSBackend's dicts that request threads scan while others add to them.
SNS_SCANNED = ("subscriptions", "platform_endpoints", "applications")


def _sns_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _originals["sns_init"](self, *args, **kwargs)
    for name in SNS_SCANNED:
        setattr(self, name, _SnapshotDict(getattr(self, name)))


def fixes_apply() -> bool:
    """Apply the corrections; returns whether they are active (never raises)."""
    if _originals:
        return True
    if not moto_supported("corrections (FIFO order after a lapsed visibility timeout)"):
        return False
    from moto.sqs.models import Queue, SQSBackend

    _originals["pending_message_groups"] = Queue.__dict__["pending_message_groups"]
    Queue.pending_message_groups = property(_pending_message_groups)  # type: ignore[method-assign,assignment]
    _originals["receive_message"] = SQSBackend.__dict__["receive_message"]
    SQSBackend.receive_message = _receive_message  # type: ignore[method-assign]
    _originals["wait_for_messages"] = Queue.__dict__["wait_for_messages"]
    Queue.wait_for_messages = _wait_for_messages  # type: ignore[method-assign]
    from moto.sns.models import SNSBackend

    _originals["sns_init"] = SNSBackend.__dict__["__init__"]
    SNSBackend.__init__ = _sns_init  # type: ignore[method-assign]
    return True


def fixes_revert() -> None:
    from moto.sqs.models import Queue, SQSBackend

    if "pending_message_groups" in _originals:
        Queue.pending_message_groups = _originals.pop("pending_message_groups")  # type: ignore[method-assign]
    if "receive_message" in _originals:
        SQSBackend.receive_message = _originals.pop("receive_message")  # type: ignore[method-assign]
    if "wait_for_messages" in _originals:
        Queue.wait_for_messages = _originals.pop("wait_for_messages")  # type: ignore[method-assign]
    from moto.sns.models import SNSBackend

    if "sns_init" in _originals:
        SNSBackend.__init__ = _originals.pop("sns_init")  # type: ignore[method-assign]
