"""Run Flowdash: the embedded moto server (by default) and Daphne, in one process.

Unlike ``runserver`` there is no autoreloader, so the moto server and the
watcher live in exactly one process, and Ctrl-C stops both.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dashboard import backend
from dashboard.instructor import instructor_ensure


class Command(BaseCommand):
    help = "Start Flowdash (Daphne plus, by default, an embedded moto server)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("FLOWDASH_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("FLOWDASH_PORT", 8000)))

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from dashboard.asgi import application

        conn = backend.connection()
        username, password = instructor_ensure()
        url = f"http://{host}:{port}/"
        self._say(f"Flowdash dashboard: {url}")
        self._say(f"Backend: {conn.backend} (region {conn.config.region})")
        if conn.endpoint_url:
            self._say(f"AWS endpoint: {conn.endpoint_url}")
            self._say(
                f"Try: AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws --region "
                f"{conn.config.region} --endpoint-url {conn.endpoint_url} sns list-topics"
            )
        server = backend.embedded_server()
        if server is not None and server.state_note:
            self._say(f"Embedded state: {server.state_note}")
        if password:
            self._say(f"Log in as '{username}' with password: {password}  (shown only once)")
        else:
            self._say(f"Log in as '{username}' (password set earlier).")
        self._say("Press Ctrl-C to stop.")
        # Ctrl-C must stop Flowdash even when started from a shell that ignores SIGINT
        # for background jobs (Twisted only handles SIGINT if it has Python's default).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _engine_start_with(server_reactor())
        server = Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            signal_handlers=True,
            verbosity=0,
        )
        try:
            server.run()
        finally:
            backend.shutdown()
            self._say("Flowdash stopped.")

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()


def server_reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _engine_start_with(reactor: Any) -> None:
    """Start the flow engine once Daphne's loop runs, and let it save its events on Ctrl-C."""
    from twisted.internet.defer import Deferred

    from dashboard import flowbus

    tasks: list[asyncio.Task[Any]] = []

    def start() -> None:
        task = asyncio.ensure_future(flowbus.ensure_running())
        # A failed first start is logged by the engine; the next socket tries again.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        tasks.append(task)

    def stop() -> Deferred:
        return Deferred.fromFuture(asyncio.ensure_future(flowbus.shutdown()))

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
