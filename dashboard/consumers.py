"""Socket consumers. ``FlowConsumer`` streams the flow to one browser.

Connecting follows Zulip's register pattern: register with the process's frame
relay (``relay.py``, a member of the ``flow`` group) first, then ask the engine
for a snapshot, so no event falls between the two; the
client drops frames it already has (``seq <= snapshot.last_seq``) and asks for
a resync whenever it sees a gap. The consumer holds no logic and makes no AWS
calls; every send is guarded, since the socket may close at any time.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import flowbus
from .relay import relay

logger = logging.getLogger(__name__)

UNAUTHENTICATED = 4401


class FlowConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
        await self.accept()
        await relay().join(self)
        await flowbus.ensure_running()
        await self._snapshot_request()

    async def disconnect(self, code: int) -> None:
        relay().leave(self)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Dispatch without Channels' per-message ``close_old_connections``.

        Channels hops to the sync thread before every handler to close stale
        database connections. This consumer never touches the database, and at
        200 viewers x 20 frames a second those hops queued behind one another on
        the single sync thread, leaving every viewer seconds behind.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "resync":
            await self._snapshot_request()
        else:
            await self._send(
                {"type": "error", "message": 'Unknown request; send {"type": "resync"}.'}
            )

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kw: Any
    ) -> None:
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kw)
        except ValueError:  # not JSON: say so, keep the connection
            await self._send({"type": "error", "message": "Frames must be JSON."})

    async def frame_send(self, text: str) -> None:
        """A frame, from this process's relay (dashboard/relay.py)."""
        await self._send_text(text)

    async def flow_snapshot(self, message: dict[str, Any]) -> None:
        await self._send({"type": "snapshot", **message["snapshot"]})

    async def _snapshot_request(self) -> None:
        await self.channel_layer.send(
            flowbus.COMMANDS, {"type": "snapshot.request", "reply_to": self.channel_name}
        )

    async def _send(self, content: dict[str, Any]) -> None:
        await self._send_text(await self.encode_json(content))

    async def _send_text(self, text: str) -> None:
        try:
            await self.send(text_data=text)
        except Exception as exc:  # closed socket: disconnect() follows
            logger.debug("send to a closed socket: %s", exc)
