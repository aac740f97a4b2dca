"""Create what a definitions file holds and the backend lacks (``definitions_export``'s
note on the embedded backend applies: a running Flowdash is reached on its port)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from messaging.definitions import DefinitionsInvalid, definitions_import, definitions_load
from messaging.errors import FlowdashError

from .definitions_export import command_connection


class Command(BaseCommand):
    help = (
        "Import a definitions file: check it whole, then create the topics, queues, "
        "subscriptions (and messages) the backend lacks. A file with problems changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="a file written by definitions_export or the page")
        parser.add_argument("--dry-run", action="store_true", help="only say what would be created")

    def handle(self, *args: Any, file: str, dry_run: bool, **options: Any) -> None:
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            document = definitions_load(data=data)
        except DefinitionsInvalid as exc:
            raise CommandError(exc.message) from None
        conn, done = command_connection(verb="import into", say=self.stderr.write)
        try:
            plan = definitions_import(conn, document=document, dry_run=dry_run)
        except DefinitionsInvalid as exc:
            lines = "\n".join(f"  {problem}" for problem in exc.problems)
            raise CommandError(f"{file} was refused; nothing was created:\n{lines}") from None
        except FlowdashError as exc:
            raise CommandError(f"Nothing was imported: {exc.message}") from exc
        finally:
            done()
        for item in plan.items:
            action = (
                "exists" if item.action == "exists" else ("would create" if dry_run else "created")
            )
            extra = f", {item.messages} messages" if item.messages else ""
            self.stdout.write(f"{action:>12}  {item.kind} {item.name} ({item.detail}{extra})")
        self.stdout.write(f"{file}: {plan.describe()}")
