"""The embedded backend: a moto server in Flowdash's own process.

It listens on a loopback port so the AWS CLI or a student's script can publish
to the same topics the dashboard shows. moto logs every request through
werkzeug; that is silenced, or the console drowns at a few hundred messages/s.
"""

from __future__ import annotations

import logging

from moto.server import ThreadedMotoServer

logger = logging.getLogger(__name__)


class EmbeddedServer:
    """Starts and stops moto's threaded server; ``url`` is known once started."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: ThreadedMotoServer | None = None
        self.url: str | None = None

    def start(self) -> str:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.url = f"http://{host}:{port}"
        logger.info("embedded moto server listening on %s", self.url)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
