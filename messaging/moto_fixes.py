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
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Any

logger = logging.getLogger(__name__)

CHECKED_MOTO_VERSIONS = frozenset({"5.2.5"})

_originals: dict[str, Any] = {}


def _pending_message_groups(self: Any) -> set[str]:
    # ReceiveMessage reads this before its scan; dropping lapsed messages here means
    # the scan neither skips them nor re-locks the group as it reaches them.
    self._pending_messages -= {m for m in self._pending_messages if m.visible}
    return {m.group_id for m in self._pending_messages if m.group_id is not None}


def fixes_apply() -> bool:
    """Apply the corrections; returns whether they are active (never raises)."""
    if _originals:
        return True
    version = importlib.metadata.version("moto")
    if version not in CHECKED_MOTO_VERSIONS:
        logger.warning(
            "moto %s is not one Flowdash's corrections were checked against (%s); "
            "running it as it is, so FIFO order after a lapsed visibility timeout may be wrong.",
            version,
            ", ".join(sorted(CHECKED_MOTO_VERSIONS)),
        )
        return False
    from moto.sqs.models import Queue

    _originals["pending_message_groups"] = Queue.__dict__["pending_message_groups"]
    Queue.pending_message_groups = property(_pending_message_groups)  # type: ignore[method-assign,assignment]
    return True


def fixes_revert() -> None:
    from moto.sqs.models import Queue

    if "pending_message_groups" in _originals:
        Queue.pending_message_groups = _originals.pop("pending_message_groups")  # type: ignore[method-assign]
