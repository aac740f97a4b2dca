"""Run the flow engine (watcher and workers) as its own process, for scale-out.

Set ``FLOWDASH_ENGINE=external`` for the Daphne processes so they do not start
one of their own, and a shared channel layer (``FLOWDASH_REDIS_URL``) so frames
reach every one of them. With the embedded backend this process hosts moto;
point the Daphne processes at it with ``FLOWDASH_BACKEND=endpoint``.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand

from dashboard import backend
from dashboard.flowbus import FlowBus


class Command(BaseCommand):
    help = "Run the flow engine (watcher, workers, flow bus) in this process."

    def handle(self, *args: Any, **options: Any) -> None:
        conn = backend.connection()
        self.stdout.write(f"flowwatch: backend {conn.backend}, endpoint {conn.endpoint_url}")
        self.stdout.flush()
        try:
            asyncio.run(self._run())
        finally:
            backend.shutdown()
        self.stdout.write("flowwatch stopped.")

    async def _run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        bus = FlowBus()
        await bus.start()
        self.stdout.write("flowwatch: engine running; Ctrl-C stops it.")
        self.stdout.flush()
        await stop.wait()
        await bus.stop()
