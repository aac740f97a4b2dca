"""State changes the dashboard makes: keyword-only, one job each.

A view that needs a single ``messaging`` call makes it itself; what lives here is
more than that call: a setting stored and announced to the engine, a redrive
journaled in the database, a send retried when a cached queue URL has gone
stale, a token's last use recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar

from django.db import transaction
from django.utils import timezone

from messaging import publishing, resources
from messaging.burst import Burst
from messaging.connection import Connection
from messaging.errors import ResourceNotFound
from messaging.publishing import BatchEntry, BatchResult, PublishResult
from messaging.redrive import RedriveResult, redrive_run
from messaging.resources import Queue
from messaging.validation import MessageAttribute
from messaging.workers import WorkerSpec

from .backend import connection
from .flowbus import command_send
from .models import ApiToken, RedriveJournalEntry, WorkerSetting

T = TypeVar("T")

#: How stale a token's ``last_used_at`` may be: a write per request would cost more
#: than the request, and a minute is precise enough to see which tokens are in use.
TOKEN_TOUCH_SECONDS = 60


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RedriveProgress:
    moved: int
    resent_skipped: int
    #: Messages still visible in the dead-letter queue after this step.
    remaining: int


def queue_redrive_step(
    *, dead_letter_arn: str, source_arn: str, limit: int | None
) -> RedriveProgress:
    """``queue_redrive`` for queues named by ARN, reporting what is left in the DLQ:
    the API's caller repeats small steps to show progress."""
    dead_letter = _queue_by_arn(dead_letter_arn)
    result = queue_redrive(dead_letter=dead_letter, source=_queue_by_arn(source_arn), limit=limit)
    return RedriveProgress(
        moved=result.moved,
        resent_skipped=result.resent_skipped,
        remaining=_queue_by_arn(dead_letter_arn).depth.visible,
    )


def queue_send(
    *,
    queue_arn: str,
    body: str,
    attributes: Iterable[MessageAttribute] = (),
    delay_seconds: int | None = None,
    message_group_id: str | None = None,
    deduplication_id: str | None = None,
) -> PublishResult:
    """``publishing.queue_send`` to a queue named by ARN (see ``_to_queue``)."""
    return _to_queue(
        queue_arn,
        lambda conn, url: publishing.queue_send(
            conn,
            queue_url=url,
            body=body,
            attributes=attributes,
            delay_seconds=delay_seconds,
            message_group_id=message_group_id,
            deduplication_id=deduplication_id,
        ),
    )


def queue_send_batch(*, queue_arn: str, entries: Sequence[BatchEntry]) -> BatchResult:
    """``publishing.queue_send_batch`` to a queue named by ARN (see ``_to_queue``)."""
    return _to_queue(
        queue_arn,
        lambda conn, url: publishing.queue_send_batch(conn, queue_url=url, entries=entries),
    )


def burst_start(*, burst: Burst) -> Burst:
    """Check a burst and hand it to the engine, which sends it in the background."""
    burst = burst.validate()
    command_send(
        "burst.start", burst={**asdict(burst), "attributes": [asdict(a) for a in burst.attributes]}
    )
    return burst


def counters_reset() -> None:
    """Zero the engine's counters (per resource, subscription and worker); viewers resync
    and show "counts since" now. Handled where the engine runs (``counters.reset``)."""
    command_send("counters.reset")


def api_token_touch(*, api_token: ApiToken) -> None:
    """Record that a token was used, at most once per ``TOKEN_TOUCH_SECONDS``."""
    now = timezone.now()
    last = api_token.last_used_at
    if last is None or (now - last).total_seconds() > TOKEN_TOUCH_SECONDS:
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)


def _to_queue(arn: str, send: Callable[[Connection, str], T]) -> T:
    """Send to a queue named by ARN. Its URL is cached (a GetQueueUrl per message doubled
    the cost of a send); if the queue has gone, the lookup is repeated uncached, so a
    deleted queue answers exactly as before (404) and a re-created one gets the message:
    the failed send reached no queue, so sending again cannot duplicate it."""
    conn = connection()
    url = resources.queue_url_cached(conn, arn=arn)
    try:
        return send(conn, url)
    except ResourceNotFound:
        resources.resource_cache.forget(conn, arn, url)
        return send(conn, resources.queue_url_cached(conn, arn=arn))


def _queue_by_arn(arn: str) -> Queue:
    conn = connection()
    return resources.queue_get(conn, url=resources.queue_url(conn, arn=arn))
