"""Socket consumers. ``FlowConsumer`` streams the flow to one browser.

Connecting follows Zulip's register pattern: register with the process's frame
relay (``relay.py``, a member of the ``flow`` group) first, then ask the engine
for a snapshot, so no event falls between the two; the
client drops frames it already has (``seq <= snapshot.last_seq``) and asks for
a resync whenever it sees a gap. The consumer holds no logic and makes no AWS
calls; every send is guarded, since the socket may close at any time.

A bound per socket: Daphne (Twisted) buffers whatever is sent to a client that
stops reading, without limit (daphne#170). Before each frame the consumer looks
at what Twisted still holds for its connection; once that is more than
``FLOWDASH_SOCKET_MAX_BACKLOG_BYTES`` or ``FLOWDASH_SOCKET_MAX_BACKLOG_FRAMES``
frames, it sends nothing more and closes the socket with 4408 ("too slow:
reconnect and resync", docs/protocol.md). Frames from clients are small
(``{"type": "resync"}``): anything over ``MAX_REQUEST_CHARS`` or that is not
JSON (a 100,000-deep array raises ``RecursionError``) gets an ``error`` reply;
one over Daphne's own limit (1 MiB) is closed with 1009.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from . import flowbus
from .relay import relay

logger = logging.getLogger(__name__)

UNAUTHENTICATED = 4401
#: The client fell too far behind: reconnect and resync (docs/protocol.md).
TOO_SLOW = 4408
#: The flow engine could not start (the backend is unreachable): try again later. Not
#: 1013: Daphne's autobahn sends only 1000 and 3000-4999, and turns anything else into 1011.
ENGINE_UNAVAILABLE = 4503
#: The longest frame a client may send; the protocol's requests are a few bytes.
MAX_REQUEST_CHARS = 64 * 1024
#: Tries to ask another process's engine for a snapshot while its channel is full.
SNAPSHOT_ATTEMPTS = 6
#: How long a socket closed for being too slow may take to read what was already
#: buffered for it and the close frame after it (at most the bound above), before
#: the connection is dropped. Autobahn's default, 1 s, would drop nearly every slow
#: client before it could see the 4408.
SLOW_CLOSE_GRACE_SECONDS = 10.0

#: Sockets closed for being too slow since this process started (``/healthz``).
slow_closed = 0


class FlowConsumer(AsyncJsonWebsocketConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._too_slow = False
        self._max_bytes: int = settings.FLOWDASH_SOCKET_MAX_BACKLOG_BYTES
        self._max_frames: int = settings.FLOWDASH_SOCKET_MAX_BACKLOG_FRAMES
        #: Sizes of the newest frames sent, to tell how many are still buffered.
        self._sizes: deque[int] = deque(maxlen=self._max_frames + 1)
        self._protocol: Any = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
        self._protocol = daphne_protocol(self.base_send)
        if self._protocol is not None:
            # A frame over Daphne's size limit (1 MiB) fails the connection; autobahn's
            # default drops the TCP connection without a word (the client sees 1006).
            # Close it properly instead: the client gets 1009, "message too big".
            self._protocol.failByDrop = False
        await self.accept()
        await relay().join(self)
        try:
            await flowbus.ensure_running()
        except flowbus.EngineUnavailable as exc:
            relay().leave(self)
            await self._send(
                {"type": "error", "message": f"The flow engine is not running: {exc}."}
            )
            await self.close(code=ENGINE_UNAVAILABLE)
            return
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
        size = len(text_data) if text_data is not None else len(bytes_data or b"")
        if size > MAX_REQUEST_CHARS:
            await self._send(
                {
                    "type": "error",
                    "message": f"Frames must be at most {MAX_REQUEST_CHARS} characters.",
                }
            )
            return
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kw)
        except (ValueError, RecursionError):  # not JSON, or nested too deep: say so
            await self._send({"type": "error", "message": "Frames must be JSON."})

    async def frame_send(self, text: str) -> None:
        """A frame, from this process's relay (dashboard/relay.py)."""
        if self._too_slow:
            return
        behind = self._backlog()
        if behind is not None:
            await self._close_too_slow(*behind)
            return
        await self._send_text(text)

    async def flow_snapshot(self, message: dict[str, Any]) -> None:
        await self._send({"type": "snapshot", **message["snapshot"]})

    async def _snapshot_request(self) -> None:
        snapshot = flowbus.local_snapshot()
        if snapshot is not None:  # the engine runs in this process, on this loop
            await self.flow_snapshot({"snapshot": snapshot})
            return
        request = {"type": "snapshot.request", "reply_to": self.channel_name}
        for attempt in range(SNAPSHOT_ATTEMPTS):
            try:
                await self.channel_layer.send(flowbus.COMMANDS, request)
                return
            except ChannelFull:  # many viewers resyncing at once: wait a moment, again
                await asyncio.sleep(0.05 * 2**attempt)
        await self._send({"type": "error", "message": "The engine is too busy; resyncing."})
        await self.close(code=TOO_SLOW)

    async def _send(self, content: dict[str, Any]) -> None:
        await self._send_text(await self.encode_json(content))

    async def _send_text(self, text: str) -> None:
        if self._too_slow:
            return
        self._sizes.append(len(text))
        try:
            await self.send(text_data=text)
        except Exception as exc:  # closed socket: disconnect() follows
            logger.debug("send to a closed socket: %s", exc)

    # --- the bound -----------------------------------------------------------------

    def _backlog(self) -> tuple[int, int] | None:
        """(bytes, frames) still buffered for this client, when over the bound; else None."""
        buffered = transport_buffered(self._protocol)
        if not buffered:
            return None  # nothing waiting, or not under Daphne (nothing to measure)
        # The frames not yet handed to the kernel: the newest ones whose sizes add up
        # to what is buffered (the oldest of them may be partly written).
        frames, total = 0, 0
        for size in reversed(self._sizes):
            if total >= buffered:
                break
            total += size
            frames += 1
        if buffered > self._max_bytes or frames > self._max_frames:
            return buffered, frames
        return None

    async def _close_too_slow(self, buffered: int, frames: int) -> None:
        global slow_closed
        self._too_slow = True
        slow_closed += 1
        relay().leave(self)
        logger.warning(
            "closing a flow socket (%s) that fell behind: %d bytes, about %d frames unsent",
            self.scope.get("client"), buffered, frames,
        )  # fmt: skip
        if self._protocol is not None and hasattr(self._protocol, "closeHandshakeTimeout"):
            self._protocol.closeHandshakeTimeout = SLOW_CLOSE_GRACE_SECONDS
        try:
            await self.close(code=TOO_SLOW)
        except Exception as exc:
            logger.debug("closing a socket that is gone: %s", exc)


def daphne_protocol(send: Any) -> Any | None:
    """The Daphne websocket protocol object behind an ASGI ``send``, if there is one.

    Daphne hands each application ``functools.partial(server.handle_reply, protocol)``;
    Channels' session middleware wraps it in a bound method whose object keeps it as
    ``real_send``. Anything else (the test communicator, another server): None, and
    the socket goes unbounded, as it would without this check.
    """
    for _ in range(8):
        if isinstance(send, functools.partial):
            for arg in send.args:
                if hasattr(arg, "transport") and hasattr(arg, "sendMessage"):
                    return arg
            return None
        inner = getattr(getattr(send, "__self__", None), "real_send", None)
        if inner is None:
            return None
        send = inner
    return None


def transport_buffered(protocol: Any) -> int:
    """Bytes Twisted holds for the connection, not yet taken by the kernel.

    Twisted's ``FileDescriptor`` keeps them in ``dataBuffer`` (from ``offset`` on)
    and in ``_tempDataBuffer`` (``_tempDataLen`` bytes); TLS or other transports
    without them count as 0.
    """
    transport = getattr(protocol, "transport", None)
    if transport is None:
        return 0
    try:
        pending = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    except (AttributeError, TypeError):
        return 0
    return max(0, int(pending))
