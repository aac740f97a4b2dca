"""Classroom data: scenarios (demo setups stored as data), class sessions and participants.

Participants have no account: a participant is a row tied to one browser's
Django session key, inside exactly one class session. Everything a participant
may do is checked against that row and its class session's flags.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from .definition import DefinitionError, ScenarioDefinition, definition_parse


class Scenario(models.Model):
    """A named demo: resources, workers and a publishing pattern, loadable in one click.

    The definition is checked on save through the admin (``full_clean``), so a
    scenario that names a queue it does not declare is refused before anyone loads it.
    """

    name = models.CharField(max_length=100)
    slug = models.SlugField(
        max_length=24, unique=True,
        help_text="Part of every resource name: its resources are named sc-<slug>-<name>.",
    )  # fmt: skip
    explanation = models.TextField(
        help_text="What to watch: shown next to the diagram while the scenario runs."
    )
    definition = models.JSONField(
        default=dict, help_text="Resources, subscriptions, workers and publishing steps (JSON)."
    )
    position = models.PositiveSmallIntegerField(default=100, help_text="Order in lists.")
    shipped = models.BooleanField(
        default=False, help_text="Installed from dashboard/classroom/scenarios/."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("position", "name")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            definition_parse(self.definition, slug=self.slug)
        except DefinitionError as exc:
            field = "slug" if exc.message.startswith("A scenario's slug") else "definition"
            raise ValidationError({field: exc.message}) from None

    def parsed(self) -> ScenarioDefinition:
        return definition_parse(self.definition, slug=self.slug)


class ClassSession(models.Model):
    """One class: a join code students type, and what they are allowed to do.

    ``joining_open`` lets new students in, ``publishing_locked`` pauses every
    participant's publishing, ``ended_at`` closes the class for good. The allowed
    lists hold ARNs: topics and queues participants may publish to, and queues
    they may work on.
    """

    join_code = models.CharField(max_length=8, unique=True)
    title = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    scenario = models.ForeignKey(Scenario, null=True, blank=True, on_delete=models.SET_NULL)
    joining_open = models.BooleanField(default=True)
    publishing_locked = models.BooleanField(default=False)
    ended_at = models.DateTimeField(null=True, blank=True)
    allowed_topics = models.JSONField(default=list, blank=True)
    allowed_queues = models.JSONField(default=list, blank=True)
    worker_queues = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-created_at",)
        verbose_name = "class session"

    def __str__(self) -> str:
        return f"{self.title or 'Class'} ({self.join_code})"

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


class ParticipantQuerySet(models.QuerySet["Participant"]):
    def present(self) -> ParticipantQuerySet:
        return self.filter(removed_at__isnull=True)


class Participant(models.Model):
    """A student in one class session, known by display name and browser session.

    While working a queue, the message they hold (as boto3 returned it) is kept
    here, so "done" and "fail" need nothing from the phone but a tap.
    """

    class_session = models.ForeignKey(
        ClassSession, on_delete=models.CASCADE, related_name="participants"
    )
    display_name = models.CharField(max_length=24)
    session_key = models.CharField(max_length=40, db_index=True)
    joined_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)
    published_count = models.PositiveIntegerField(default=0)
    processed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    work_queue_arn = models.CharField(max_length=300, blank=True)
    held_message = models.JSONField(null=True, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)

    objects = ParticipantQuerySet.as_manager()

    class Meta:
        ordering = ("joined_at",)
        constraints = [
            models.UniqueConstraint(
                Lower("display_name"), "class_session",
                condition=models.Q(removed_at__isnull=True),
                name="classroom_participant_name_unique",
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.display_name

    @property
    def held(self) -> dict[str, Any] | None:
        return self.held_message if self.held_message else None


class ParticipantAction(models.Model):
    """Something a participant did, so the presenter can put a name on a flow event."""

    KINDS = [
        ("published", "published to a topic"),
        ("sent", "sent to a queue"),
        ("processed", "processed a message"),
        ("failed", "failed a message"),
    ]

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="actions")
    kind = models.CharField(max_length=10, choices=KINDS)
    trace_id = models.CharField(max_length=100, blank=True, db_index=True)
    target_arn = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.participant} {self.kind}"
