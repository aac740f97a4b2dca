"""Remove Flowdash's tap queues (and their subscriptions) from the backend."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dashboard import backend
from messaging.taps import tap_cleanup


class Command(BaseCommand):
    help = "Delete tap queues: all of them, or with --stale only those whose topic is gone."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stale", action="store_true", help="keep taps of existing topics")

    def handle(self, *args: Any, stale: bool, **options: Any) -> None:
        deleted = tap_cleanup(backend.connection(), keep_topics=stale)
        for name in deleted:
            self.stdout.write(f"deleted {name}")
        self.stdout.write(f"{len(deleted)} tap queue(s) removed.")
