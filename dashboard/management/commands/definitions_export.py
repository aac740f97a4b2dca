"""Write the topology (optionally with its messages) as a definitions file.

With the embedded backend the command talks to the Flowdash that runs it (``make
run``), found on its moto port, over HTTP as any outside client does; moto's memory
is in that other process, so ``--messages`` cannot read the queues there without
receiving, and leaves them out (the Definitions page and ``GET /api/definitions?
messages=1`` of the running Flowdash can). When no Flowdash runs, the command starts
the embedded backend itself from the saved state (``var/embedded-state.json``), as
the next ``make run`` would, and exports it with its messages.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard import backend
from messaging.connection import Connection
from messaging.definitions import definitions_export
from messaging.errors import FlowdashError

NOTHING_RUNS = (
    "No Flowdash runs on {url} and FLOWDASH_PERSIST=0, so the embedded backend has nothing "
    "to {verb}: start Flowdash (make run) first."
)


class Command(BaseCommand):
    help = "Export topics, queues and subscriptions (with --messages, their messages) as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", action="store_true", help="include queued messages")
        parser.add_argument("-o", "--output", help="write to this file instead of stdout")

    def handle(self, *args: Any, messages: bool, output: str | None, **options: Any) -> None:
        conn, done = command_connection(verb="export", say=self.stderr.write)
        try:
            document = definitions_export(conn, messages=messages)
        except FlowdashError as exc:
            raise CommandError(exc.message) from exc
        finally:
            done()
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if output:
            Path(output).write_text(text, encoding="utf-8")
            counts = ", ".join(
                f"{len(document[key])} {key}" for key in ("topics", "queues", "subscriptions")
            )
            sent = sum(len(q.get("messages", [])) for q in document["queues"])
            self.stdout.write(f"wrote {counts}, {sent} messages to {output}")
        else:
            self.stdout.write(text, ending="")
        for note in document["notes"]:
            self.stderr.write(note)


def command_connection(
    *, verb: str, say: Callable[[str], None]
) -> tuple[Connection, Callable[[], None]]:
    """The backend for a definitions command, and what to call when done.

    The embedded moto lives inside the Flowdash process that started it, so a second
    process must not start its own on the same port: if one listens there, this
    process reaches it over HTTP. If none does, this process starts the embedded
    backend itself, restoring the saved state and saving it again when done
    (``done``), so an import is there at the next ``make run``.
    """
    config = settings.FLOWDASH_BACKEND
    if config.backend != "embedded" or config.endpoint_url:
        return backend.connection(), lambda: None
    host = "127.0.0.1" if config.moto_host in ("0.0.0.0", "::", "") else config.moto_host
    url = f"http://{host}:{config.moto_port}"
    if _listening(host, config.moto_port):
        # Another process's moto: reached over HTTP, as an endpoint backend. Its own HTTP
        # receiver stays an allowed subscription host, as in that process.
        receiver = urlsplit(settings.FLOWDASH_PUBLIC_URL).hostname or "127.0.0.1"
        settings.FLOWDASH_BACKEND = replace(
            config, backend="endpoint", endpoint_url=url,
            http_allowed_hosts=(*config.http_allowed_hosts, receiver),
        )  # fmt: skip
        return backend.connection(), lambda: None
    if not config.persist:
        raise CommandError(NOTHING_RUNS.format(url=url, verb=verb))
    conn = backend.connection()
    server = backend.embedded_server()
    if server is not None and server.state_note:
        say(f"Embedded state: {server.state_note}")
    return conn, backend.shutdown


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
