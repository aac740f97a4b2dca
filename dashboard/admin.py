"""The Django admin for what Flowdash keeps: the flow event log, worker settings,
site switches and API tokens, plus a read-only page of the live topology."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from messaging.errors import FlowdashError
from messaging.workers import WorkerSpec

from .models import (
    ApiToken,
    FlowEventRecord,
    HttpDelivery,
    RedriveJournalEntry,
    SiteSettings,
    WorkerSetting,
)
from .services import worker_settings_set


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "hint", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "hint")
    readonly_fields = ("hint", "created_at", "last_used_at")
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are issued with `manage.py apitoken`, which shows the secret once

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).")


class EstimatedCountPaginator(Paginator):
    """Counting a million rows on every page load is what makes log admins slow. Without
    filters the count comes from the sequence numbers (two index lookups); with
    filters, Django counts only the filtered rows."""

    object_list: QuerySet[FlowEventRecord]  # the event log's changelist, never a list

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if query.where:
            return super().count
        bounds = FlowEventRecord.objects.order_by("seq").values_list("seq", flat=True)
        first, last = bounds.first(), bounds.last()
        return 0 if first is None or last is None else last - first + 1


class ResourceFilter(admin.SimpleListFilter):
    """Filter by queue or topic (the resources of the most recent events, not a scan)."""

    title = "resource"
    parameter_name = "resource"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        recent = FlowEventRecord.objects.order_by("-seq").values_list("resource", flat=True)[:5000]
        return [(arn, arn.rsplit(":", 1)[-1]) for arn in sorted({r for r in recent if r})]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(resource=self.value()) if self.value() else queryset


EXPORT_FIELDS = ("seq", "ts", "type", "trace_id", "resource")


@admin.register(FlowEventRecord)
class FlowEventRecordAdmin(admin.ModelAdmin):
    list_display = ("seq", "ts", "type", "trace_link", "resource_name")
    list_filter = ("type", ResourceFilter, ("ts", admin.DateFieldListFilter))
    search_fields = ("=trace_id", "=data__message_id")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    actions = ("export_jsonl", "export_csv")
    readonly_fields = ("seq", "ts", "type", "trace_link", "resource", "pretty_data")
    exclude = ("data", "trace_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="trace", ordering="trace_id")
    def trace_link(self, obj: FlowEventRecord) -> str:
        if not obj.trace_id:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("trace_detail", args=[obj.trace_id]), obj.trace_id
        )

    @admin.display(description="resource")
    def resource_name(self, obj: FlowEventRecord) -> str:
        return obj.resource.rsplit(":", 1)[-1]

    @admin.display(description="event")
    def pretty_data(self, obj: FlowEventRecord) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2))

    @admin.action(description="Export selected as JSON Lines")
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet[FlowEventRecord]) -> Any:
        rows = queryset.order_by("seq").values_list("data", flat=True).iterator(chunk_size=2000)
        lines = (json.dumps(data, separators=(",", ":")) + "\n" for data in rows)
        return _download(lines, "flow-events.jsonl", "application/jsonl")

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[FlowEventRecord]) -> Any:
        return _download(_csv_lines(queryset), "flow-events.csv", "text/csv")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(queryset: QuerySet[FlowEventRecord]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([*EXPORT_FIELDS, "data"])
    for row in queryset.order_by("seq").iterator(chunk_size=2000):
        yield writer.writerow(
            [
                row.seq,
                row.ts.isoformat(),
                row.type,
                row.trace_id,
                row.resource,
                json.dumps(row.data),
            ]
        )


def _download(lines: Iterator[str], filename: str, content_type: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class WorkerSettingForm(forms.ModelForm):
    class Meta:
        model = WorkerSetting
        fields = (
            "queue_arn", "count", "min_ms", "max_ms", "failure_rate", "poison_marker", "batch_size",
        )  # fmt: skip

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what ModelForm.clean returns
        try:
            _spec(WorkerSetting(**{k: v for k, v in data.items() if v is not None})).validate()
        except FlowdashError as exc:
            raise forms.ValidationError(
                {exc.field: exc.message} if exc.field in self.fields else exc.message
            ) from exc
        return data


@admin.register(WorkerSetting)
class WorkerSettingAdmin(admin.ModelAdmin):
    form = WorkerSettingForm
    list_display = ("queue_name", "count", "min_ms", "max_ms", "failure_rate", "poison_marker")
    list_editable = ("count",)
    search_fields = ("queue_arn",)
    actions = ("stop_workers",)

    @admin.display(description="queue", ordering="queue_arn")
    def queue_name(self, obj: WorkerSetting) -> str:
        return obj.queue_arn.rsplit(":", 1)[-1]

    def save_model(self, request: HttpRequest, obj: WorkerSetting, form: Any, change: bool) -> None:
        """Through the service, so the engine hears about it and bad values are refused."""
        obj.pk = worker_settings_set(queue_arn=obj.queue_arn, spec=_spec(obj)).pk

    @admin.action(description="Stop all workers on the selected queues")
    def stop_workers(self, request: HttpRequest, queryset: QuerySet[WorkerSetting]) -> None:
        for row in queryset:
            spec = WorkerSpec(**{**asdict(_spec(row)), "count": 0})
            worker_settings_set(queue_arn=row.queue_arn, spec=spec)
        self.message_user(request, f"Stopped the workers of {queryset.count()} queue(s).")


def _spec(row: WorkerSetting) -> WorkerSpec:
    return WorkerSpec(
        count=row.count, min_ms=row.min_ms, max_ms=row.max_ms, failure_rate=row.failure_rate,
        poison_marker=row.poison_marker, batch_size=row.batch_size,
    )  # fmt: skip


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "viewers_may_publish")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not SiteSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RedriveJournalEntry)
class RedriveJournalEntryAdmin(admin.ModelAdmin):
    list_display = ("message_id", "dead_letter_arn", "source_arn", "sent_at")
    search_fields = ("=message_id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(HttpDelivery)
class HttpDeliveryAdmin(admin.ModelAdmin):
    list_display = ("received_at", "message_type", "message_id", "topic_arn", "confirmed")
    list_filter = ("message_type",)
    search_fields = ("=message_id",)
    readonly_fields = [f.name for f in HttpDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
