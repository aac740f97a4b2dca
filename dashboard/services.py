"""State changes the dashboard makes outside AWS: keyword-only, one job each."""

from __future__ import annotations

from dataclasses import asdict

from django.db import transaction

from messaging.redrive import RedriveResult, redrive_run
from messaging.resources import Queue
from messaging.workers import WorkerSpec

from .backend import connection
from .flowbus import command_send
from .models import RedriveJournalEntry, WorkerSetting


def worker_settings_set(*, queue_arn: str, spec: WorkerSpec) -> WorkerSetting:
    """Store how a queue's workers behave and tell the engine (after the commit)."""
    spec.validate()
    with transaction.atomic():
        row, _ = WorkerSetting.objects.update_or_create(
            queue_arn=queue_arn,
            defaults={
                "count": spec.count,
                "min_ms": spec.min_ms,
                "max_ms": spec.max_ms,
                "failure_rate": spec.failure_rate,
                "poison_marker": spec.poison_marker,
                "batch_size": spec.batch_size,
            },
        )
        transaction.on_commit(
            lambda: command_send("workers.set", queue_arn=queue_arn, spec=asdict(spec))
        )
    return row


class DatabaseJournal:
    """messaging.redrive's journal, kept in the database so it survives a restart."""

    def __init__(self, *, dead_letter_arn: str, source_arn: str) -> None:
        self.dead_letter_arn = dead_letter_arn
        self.source_arn = source_arn

    def sent(self, message_id: str) -> bool:
        return RedriveJournalEntry.objects.filter(message_id=message_id).exists()

    def record(self, message_id: str) -> None:
        RedriveJournalEntry.objects.get_or_create(
            message_id=message_id,
            defaults={"dead_letter_arn": self.dead_letter_arn, "source_arn": self.source_arn},
        )


def queue_redrive(*, dead_letter: Queue, source: Queue, limit: int | None) -> RedriveResult:
    """Move messages from a DLQ back to its source, exactly once each (journaled)."""
    journal = DatabaseJournal(dead_letter_arn=dead_letter.arn, source_arn=source.arn)
    return redrive_run(
        connection(), dead_letter=dead_letter, source=source, journal=journal, limit=limit
    )
