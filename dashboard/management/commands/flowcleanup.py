"""Remove every Flowdash tap queue (and its subscription) from the backend, by hand.

The watcher keeps the footprint clean by itself: it deletes a topic's tap when the
topic goes and when Flowdash stops, and at start the taps a killed Flowdash left.
This command is for leaving an account for good after a Flowdash was killed and will
not run there again; a Flowdash still running makes new taps for the topics it watches.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from dashboard import backend
from messaging.taps import tap_cleanup


class Command(BaseCommand):
    help = "Delete every tap queue Flowdash made, and its subscription."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = tap_cleanup(backend.connection())
        for name in deleted:
            self.stdout.write(f"deleted {name}")
        self.stdout.write(f"{len(deleted)} tap queue(s) removed.")
