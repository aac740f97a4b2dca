"""Install the shipped scenarios from dashboard/classroom/scenarios/*.json."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dashboard.classroom.loader import scenarios_install
from dashboard.classroom.models import Scenario


class Command(BaseCommand):
    help = "Install the shipped classroom scenarios (existing ones are kept unless --replace)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--replace", action="store_true", help="Overwrite scenarios edited in the admin."
        )

    def handle(self, *args: Any, replace: bool, **options: Any) -> None:
        written = scenarios_install(model=Scenario, replace=replace)
        if written:
            self.stdout.write(f"Installed {len(written)} scenario(s): {', '.join(written)}")
        else:
            self.stdout.write("All shipped scenarios are installed already.")
