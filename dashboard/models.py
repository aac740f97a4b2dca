"""What Flowdash keeps in its database. AWS resources are not mirrored here:
topics and queues belong to the backend, and a copy would drift."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import User

TOKEN_PREFIX = "fd_"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ApiToken(models.Model):
    """A per-user token for scripts. Only its SHA-256 digest is stored, so the
    database never holds a usable secret; the token itself is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(
        max_length=12, editable=False, help_text="The token's first characters."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(cls, *, user: User, name: str) -> tuple[ApiToken, str]:
        """Create a token; returns the row and the secret, which is not stored."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, digest=token_digest(secret), hint=secret[:8]
        )
        return token, secret

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class FlowEventRecord(models.Model):
    """A stored flow event: the trace API and the admin read these. Written in
    batches by the flow bus, pruned to ``FLOWDASH_EVENT_RETENTION`` rows."""

    seq = models.BigIntegerField(unique=True)
    ts = models.DateTimeField(db_index=True)
    type = models.CharField(max_length=20, db_index=True)
    trace_id = models.CharField(max_length=100, blank=True, db_index=True)
    resource = models.CharField(
        max_length=300, blank=True, db_index=True, help_text="The queue or topic ARN it concerns."
    )
    data = models.JSONField()

    class Meta:
        ordering = ("-seq",)
        verbose_name = "flow event"

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"


class WorkerSetting(models.Model):
    """How many simulated workers run on a queue and how they behave. Kept here
    so workers come back after a restart; the engine reads them on start."""

    queue_arn = models.CharField(max_length=300, unique=True)
    count = models.PositiveSmallIntegerField(default=1)
    min_ms = models.PositiveIntegerField(default=500, help_text="Shortest processing time (ms).")
    max_ms = models.PositiveIntegerField(default=500, help_text="Longest processing time (ms).")
    failure_rate = models.FloatField(default=0.0, help_text="0 to 1.")
    poison_marker = models.CharField(
        max_length=100, blank=True, default="poison",
        help_text="Messages whose body contains this always fail.",
    )  # fmt: skip
    batch_size = models.PositiveSmallIntegerField(default=10)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.count} worker(s) on {self.queue_arn.rsplit(':', 1)[-1]}"


class RedriveJournalEntry(models.Model):
    """A dead-letter message that a redrive has sent back to its source queue.
    Written after the send and before the delete, so an interrupted redrive
    resumes without sending anything twice (see messaging.redrive)."""

    message_id = models.CharField(max_length=100, unique=True)
    dead_letter_arn = models.CharField(max_length=300)
    source_arn = models.CharField(max_length=300)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "redrive journal entries"

    def __str__(self) -> str:
        return self.message_id


class SiteSettings(models.Model):
    """Switches an instructor flips while teaching. One row."""

    viewers_may_publish = models.BooleanField(
        default=False, help_text="Logged-in users who are not staff may publish and send."
    )

    class Meta:
        verbose_name = verbose_name_plural = "site settings"

    def __str__(self) -> str:
        return "Site settings"

    @classmethod
    def current(cls) -> SiteSettings:
        row, _ = cls.objects.get_or_create(pk=1)
        return row


class HttpDelivery(models.Model):
    """What SNS POSTed to Flowdash's own HTTP receiver (``/hooks/sns/``), so HTTP
    delivery can be shown without leaving the machine. The newest few hundred are kept."""

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    message_type = models.CharField(max_length=40)
    message_id = models.CharField(max_length=100, blank=True)
    topic_arn = models.CharField(max_length=300, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    confirmed = models.BooleanField(default=False, help_text="Subscription confirmed by Flowdash.")

    class Meta:
        ordering = ("-received_at", "-id")
        verbose_name_plural = "HTTP deliveries"

    def __str__(self) -> str:
        return f"{self.message_type} {self.message_id}"
