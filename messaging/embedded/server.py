"""The embedded backend: a moto server in Flowdash's own process.

It listens on a loopback port so the AWS CLI or a student's script can publish
to the same topics the dashboard shows. moto logs every request through
werkzeug; that is silenced, or the console drowns at a few hundred messages/s.

Stock moto slows down with every message a queue holds and never frees one, so
``start()`` first applies the fast path (``fastpath``) unless told not to;
``fastpath_active`` says whether it runs, for /healthz. The corrections
(``fixes``) and AWS's filter-policy rules (``filtering``) are always applied.

Given a ``state_path``, the server keeps its state across restarts
(``persistence``): restored before it accepts a request, written while it
changes and once more at ``stop()``; ``state_note`` says what was restored.
"""

from __future__ import annotations

import logging
from pathlib import Path

from moto.server import ThreadedMotoServer

from .broker import ClientMiddleware, broker_apply
from .fastpath import fastpath_apply, fastpath_revert
from .filtering import filtering_apply
from .fixes import fixes_apply
from .inprocess import app_register, app_unregister
from .persistence import WRITE_INTERVAL, StateKeeper
from .push import push_apply

logger = logging.getLogger(__name__)


class EmbeddedServer:
    """Starts and stops moto's threaded server; ``url`` is known once started."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fastpath: bool = True,
        state_path: Path | None = None,
        state_interval: float = WRITE_INTERVAL,
    ) -> None:
        self._host = host
        self._port = port
        self._fastpath = fastpath
        self._state_path = state_path
        self._state_interval = state_interval
        self._server: ThreadedMotoServer | None = None
        self._keeper: StateKeeper | None = None
        self.url: str | None = None
        #: Whether moto runs with the fast path; False on a moto it does not know.
        self.fastpath_active = False
        #: What became of the saved state at start (None: not kept).
        self.state_note: str | None = None

    def start(self) -> str:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # Before the fast path, which wraps Topic.publish again to bound its record.
        broker_apply()
        # moto's models are process-wide: off means stock, even if something applied it.
        if self._fastpath:
            self.fastpath_active = fastpath_apply()
        else:
            fastpath_revert()
            self.fastpath_active = False
        fixes_apply()  # behaviour corrections: always, whatever the fast path does
        filtering_apply()  # AWS's filter-policy rules in place of moto's: always, too
        push_apply()  # topic -> device endpoints as SNS delivers (wraps filtering's publish)
        self._state_restore()  # before the first request
        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.url = f"http://{host}:{port}"
        # Every request, over the port or in process, names its client for the broker.
        wsgi = server._server  # werkzeug's server, set by start()
        if wsgi is None:
            raise RuntimeError("moto's server did not start")
        wsgi.app = ClientMiddleware(wsgi.app)
        # Flowdash's own clients reach this server in-process (``inprocess``).
        app_register(self.url, wsgi.app)
        if self._keeper is not None:
            self._keeper.start()
        logger.info(
            "embedded moto server listening on %s (fast path %s)",
            self.url,
            "on" if self.fastpath_active else "off",
        )
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            if self.url:
                app_unregister(self.url)
            self._server.stop()
            self._server = None
        if self._keeper is not None:  # after the server: nothing changes after this write
            self._keeper.stop()
            self._keeper = None

    def _state_restore(self) -> None:
        if self._state_path is None:
            return
        if not StateKeeper.supported():
            self.state_note = "not kept: this moto's models were never read (see the log)"
            return
        self._keeper = StateKeeper(path=self._state_path, interval=self._state_interval)
        self._keeper.restore()
        self.state_note = self._keeper.note
