"""Scenarios are edited here; saving runs the definition's checks (``Scenario.clean``).

The actions call the same services as the presenter view. "Load" does not play
the publishing pattern: right after a load the flow engine may not have tapped
the new topics yet, so play it a few seconds later ("play"), or from the
presenter view, which waits for the diagram to show the new resources.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from messaging.errors import FlowdashError

from . import scenario_services as services
from .models import ClassSession, Participant, Scenario


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "position", "shipped", "updated_at")
    search_fields = ("name", "slug", "explanation")
    readonly_fields = ("shipped", "updated_at")
    actions = ("load", "play", "reset")

    @admin.action(description="Load scenario (create its resources and workers)")
    def load(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        for scenario in queryset:
            try:
                loaded = services.scenario_load(scenario=scenario, user=request.user)
            except FlowdashError as exc:
                self.message_user(request, f"{scenario}: {exc.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{scenario}: loaded {len(loaded.topics)} topic(s) and {len(loaded.queues)} "
                "queue(s). Play it from the presenter view.",
            )

    @admin.action(description="Play scenario (run its publishing pattern)")
    def play(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        for scenario in queryset:
            try:
                played = services.scenario_play(scenario=scenario, user=request.user)
            except FlowdashError as exc:
                self.message_user(request, f"{scenario}: {exc.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{scenario}: started {played.bursts} burst(s), "
                f"sent {len(played.sent)} message(s).",
            )

    @admin.action(description="Reset scenario (delete its resources and workers)")
    def reset(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        for scenario in queryset:
            try:
                result = services.scenario_reset(scenario=scenario, user=request.user)
            except FlowdashError as exc:
                self.message_user(request, f"{scenario}: {exc.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{scenario}: deleted {len(result.topics)} topic(s), {len(result.queues)} "
                f"queue(s), {len(result.applications)} platform application(s) with "
                f"{result.devices} device(s), and stopped {result.workers} worker setting(s).",
            )


class ParticipantInline(admin.TabularInline):
    model = Participant
    fields = ("display_name", "published_count", "processed_count", "failed_count", "removed_at")
    readonly_fields = ("published_count", "processed_count", "failed_count")
    extra = 0


@admin.register(ClassSession)
class ClassSessionAdmin(admin.ModelAdmin):
    list_display = ("join_code", "title", "scenario", "joining_open", "publishing_locked",
                    "ended_at", "created_at")  # fmt: skip
    list_filter = ("joining_open", "publishing_locked")
    readonly_fields = ("join_code", "created_at")
    inlines = (ParticipantInline,)
