"""``ParticipantConsumer``: a classroom phone's live connection (``/ws/class/``).

Authenticated by the participant's join session (the cookie the join form set),
behind the same ``AllowedHostsOriginValidator(AuthMiddlewareStack(...))`` as
``/ws/flow/`` (``asgi.py``), and rate-limited per participant: a phone sends a
resync now and then, nothing more, so frames beyond ``FRAME_RATE`` close it (4429).

What it sends, in the flow socket's shape so the page reuses ``socket.js`` and its
rules (docs/protocol.md "Classroom phones"):

- ``snapshot``: ``last_seq`` and ``recent`` notifications from the push hub, plus
  ``me`` (what the phone page shows, ``participant_view``) and ``device``;
- ``frame``: one notification each, numbered per participant (``pushhub``);
- ``me``: the page's state again when it changed (publishing locked, class ended,
  allowed targets...), checked every ``ME_CHECK_SECONDS`` on the server, outside the
  numbered stream: it replaces, so a lost one is repaired by the next.

A removed participant or an ended class gets a last ``me`` and is closed (4403); no
participant session: 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.sessions.backends.base import SessionBase
from django.utils.module_loading import import_string

from . import flowbus, pushhub
from .classroom import push_class
from .classroom.api import PARTICIPANT_SESSION_KEY
from .classroom.errors import CLASS_ENDED, REMOVED
from .classroom.models import Participant
from .classroom.selectors import participant_view
from .ratelimit import Rate, token_take

logger = logging.getLogger(__name__)

UNAUTHENTICATED = 4401
GONE = 4403
TOO_MANY = 4429
MAX_REQUEST_CHARS = 4096
#: A phone's own frames (resyncs): 20 at once, then one a second.
FRAME_RATE = Rate(capacity=20, per_seconds=20)
ME_CHECK_SECONDS = 2.0
UNKNOWN_REQUEST = 'Unknown request; send {"type": "resync"}.'


class ParticipantConsumer(AsyncJsonWebsocketConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.participant_id: int | None = None
        self._me: str | None = None
        self._checker: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        participant = await self._participant()
        if participant is None:
            await self.close(code=UNAUTHENTICATED)
            return
        self.participant_id = participant.pk
        await self.accept()
        await self.channel_layer.group_add(pushhub.group_name(participant.pk), self.channel_name)
        with contextlib.suppress(flowbus.EngineUnavailable):
            await flowbus.ensure_running()
        await self._snapshot()
        self._checker = asyncio.create_task(self._check_me())

    async def disconnect(self, code: int) -> None:
        if self._checker is not None:
            self._checker.cancel()
        if self.participant_id is not None:
            await self.channel_layer.group_discard(
                pushhub.group_name(self.participant_id), self.channel_name
            )

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kw: Any
    ) -> None:
        if self.participant_id is None:
            return
        wait = await database_sync_to_async(token_take)(
            key=f"classroom-ws:{self.participant_id}", rate=FRAME_RATE
        )
        if wait:
            await self._send({"type": "error", "message": "Too many requests; reconnect later."})
            await self.close(code=TOO_MANY)
            return
        if len(text_data or bytes_data or "") > MAX_REQUEST_CHARS:
            await self._send({"type": "error", "message": "Frames are small JSON requests."})
            return
        try:
            content = json.loads(text_data or "")
        except (ValueError, RecursionError):
            await self._send({"type": "error", "message": "Frames must be JSON."})
            return
        if isinstance(content, dict) and content.get("type") == "resync":
            await self._snapshot()
        else:
            await self._send({"type": "error", "message": UNKNOWN_REQUEST})

    async def participant_frame(self, message: dict[str, Any]) -> None:
        """A notification frame from the push hub."""
        await self._send_text(message["text"])

    # ---

    async def _snapshot(self) -> None:
        state = await self._state()
        if state is None:
            return
        me, device = state
        hub = pushhub.local()
        assert self.participant_id is not None
        if hub is not None and device:
            hub.bind(device["endpoint_arn"], self.participant_id)
        stream = hub.snapshot(self.participant_id) if hub is not None else {
            "last_seq": 0, "recent": []}  # fmt: skip
        self._me = json.dumps(me, sort_keys=True, default=str)
        await self._send({"type": "snapshot", **stream, "me": me, "device": device})

    async def _check_me(self) -> None:
        while True:
            await asyncio.sleep(ME_CHECK_SECONDS)
            state = await self._state()
            if state is None:
                return
            me, device = state
            text = json.dumps(me, sort_keys=True, default=str)
            if text != self._me:
                self._me = text
                await self._send({"type": "me", "me": me, "device": device})

    async def _state(self) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """The page's view and device, from the database and a fresh read of the session
        (the HTTP API changes it); None after closing for a removed or ended class."""
        result = await database_sync_to_async(self._read)()
        if isinstance(result, str):
            await self._send({"type": "me", "me": {"gone": result}, "device": None})
            await self.close(code=GONE)
            return None
        return result

    def _read(self) -> tuple[dict[str, Any], dict[str, Any] | None] | str:
        if self.participant_id is None:
            return "You are not in this class."
        participant = (
            Participant.objects.select_related("class_session", "class_session__scenario")
            .filter(pk=self.participant_id)
            .first()
        )
        if participant is None or participant.removed_at is not None:
            return REMOVED
        if participant.class_session.ended:
            return CLASS_ENDED
        session = _fresh_session(self.scope)
        me = participant_view(participant=participant)
        me["push"] = push_class.push_available(participant.class_session)
        return me, push_class.device_get(session)

    @database_sync_to_async
    def _participant(self) -> Participant | None:
        session = self.scope.get("session")
        if session is None or not session.session_key:
            return None
        pk = session.get(PARTICIPANT_SESSION_KEY)
        if pk is None:
            return None
        return (
            Participant.objects.select_related("class_session")
            .filter(pk=pk, session_key=session.session_key, removed_at__isnull=True,
                    class_session__ended_at__isnull=True)
            .first()
        )  # fmt: skip

    async def _send(self, content: dict[str, Any]) -> None:
        await self._send_text(json.dumps(content, default=str))

    async def _send_text(self, text: str) -> None:
        try:
            await self.send(text_data=text)
        except Exception as exc:  # a closed socket: disconnect() follows
            logger.debug("send to a closed phone socket: %s", exc)


def _fresh_session(scope: Any) -> SessionBase:
    from django.conf import settings

    engine = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    session: SessionBase = engine(session_key=scope["session"].session_key)
    return session
