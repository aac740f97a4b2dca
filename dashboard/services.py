"""State changes the dashboard makes outside AWS: keyword-only, one job each."""

from __future__ import annotations

from dataclasses import asdict

from django.db import transaction

from messaging.workers import WorkerSpec

from .flowbus import command_send
from .models import WorkerSetting


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
