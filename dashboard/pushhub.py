"""The push hub: what each classroom phone's device received, to that phone, at once.

The flow bus samples journeys for viewers once rates are high, which is right for a
diagram and wrong for a phone that must show every notification it got. So the hub
listens to the engine's events itself (beside the bus, on the engine's loop) and takes
every ``delivered`` copy to an ``application`` endpoint that a participant's phone
registered (``bind``). Each participant has one numbered stream, in the flow socket's
own shape (``docs/protocol.md``: snapshot with ``last_seq`` and ``recent``, then frames
``from_seq``/``to_seq``/``events``), so the phone page runs the flow page's socket code
and its reconnect and resync rules unchanged. Frames go to the channel-layer group
``classroom.participant.<id>``: one member per open phone page, whichever process.

Numbers and the last ``RECENT`` notifications per participant live here, in the
engine's process: with the engine in this process (the default) a phone's snapshot
comes from the hub directly (``local``).

What a phone received: ``Delivered.body``, the device's platform payload, named by the
embedded observer, and by the outside watcher (``endpoint``/``aws``) for what Flowdash
itself published per platform. For anyone else's publication the outside watcher sees
only the tap's copy, so the hub works the payload out from it
(``messaging.push.payload_for``). Whether a device gets a copy at all is the engine's
to say on both paths (no ``delivered`` for a disabled endpoint: the broker on the
embedded backend, ``messaging.correlation`` from the topology outside), so the hub
takes every ``delivered`` it is given.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from typing import Any

from channels.layers import BaseChannelLayer

from messaging.errors import FlowdashError
from messaging.events import Delivered, FlowEvent, Published
from messaging.push import application_arn_parse, endpoint_application_arn, payload_for

logger = logging.getLogger(__name__)

#: Notifications remembered per participant, for a snapshot after a reconnect.
RECENT = 20
#: Participants remembered at most (oldest forgotten first).
MAX_PARTICIPANTS = 5000
#: Publications remembered for working out a device's payload (outside observer).
PUBLICATIONS = 500

_hub: PushHub | None = None


def group_name(participant_id: int) -> str:
    return f"classroom.participant.{participant_id}"


def local() -> PushHub | None:
    """The hub of the engine running in this process, if it does."""
    return _hub


class PushHub:
    def __init__(self, layer: BaseChannelLayer) -> None:
        global _hub
        self.layer = layer
        self._published: OrderedDict[str, str] = OrderedDict()
        self._owner: dict[str, int] = {}  #: endpoint ARN -> participant id
        self._streams: OrderedDict[int, tuple[int, deque[dict[str, Any]]]] = OrderedDict()
        self._pending: list[tuple[int, dict[str, Any]]] = []
        self._wake = asyncio.Event()
        _hub = self

    def close(self) -> None:
        global _hub
        if _hub is self:
            _hub = None

    def bind(self, endpoint_arn: str, participant_id: int) -> None:
        """This endpoint is that participant's phone (from any thread: one dict store)."""
        self._owner[endpoint_arn] = participant_id

    def collect(self, event: FlowEvent) -> None:
        """The engine's listener (on its loop, inside the emitter's lock): O(1)."""
        if isinstance(event, Published) and event.topic_arn:
            self._published[event.trace_id] = event.body
            if len(self._published) > PUBLICATIONS:
                self._published.popitem(last=False)
            return
        if not isinstance(event, Delivered) or event.protocol != "application":
            return
        owner = self._owner.get(event.endpoint)
        if owner is None:
            return
        try:
            platform, _ = application_arn_parse(endpoint_application_arn(event.endpoint))
        except FlowdashError:
            platform = ""
        payload = event.body
        if payload is None:
            published = self._published.get(event.trace_id, "")
            payload = payload_for(published, platform, structured=_structured(published))
        seq, recent = self._streams.pop(owner, (0, deque(maxlen=RECENT)))
        seq += 1
        note = {
            "seq": seq, "type": "notification", "trace_id": event.trace_id,
            "topic_arn": event.topic_arn, "endpoint": event.endpoint, "platform": platform,
            "payload": payload, "ts": event.ts,
        }  # fmt: skip
        recent.append(note)
        self._streams[owner] = (seq, recent)
        while len(self._streams) > MAX_PARTICIPANTS:
            self._streams.popitem(last=False)
        self._pending.append((owner, note))
        self._wake.set()

    def snapshot(self, participant_id: int) -> dict[str, Any]:
        seq, recent = self._streams.get(participant_id, (0, deque()))
        return {"last_seq": seq, "recent": list(recent)}

    async def run(self) -> None:
        """Send each notification to its participant's group as soon as it is seen."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, []
            started = time.monotonic()
            await asyncio.gather(
                *(
                    self.layer.group_send(
                        group_name(owner),
                        {"type": "participant.frame", "text": _frame(note)},
                    )
                    for owner, note in pending
                )
            )
            if pending:
                logger.debug(
                    "push hub: %d notifications sent in %.1f ms",
                    len(pending), (time.monotonic() - started) * 1000,
                )  # fmt: skip


def _structured(body: str) -> bool:
    """Whether a publication looks like ``MessageStructure=json`` (an object of strings
    with ``default``): the outside observer is not told how it was published."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and isinstance(data.get("default"), str)


def _frame(note: dict[str, Any]) -> str:
    return json.dumps(
        {"type": "frame", "from_seq": note["seq"], "to_seq": note["seq"], "events": [note]}
    )
