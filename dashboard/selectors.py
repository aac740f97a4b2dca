"""Reads of what Flowdash stored: flow events and traces."""

from __future__ import annotations

from typing import Any

from .models import FlowEventRecord


def trace_get(*, trace_id: str) -> list[dict[str, Any]]:
    """The journey of one message, in order, each event with its time since the first."""
    rows = list(FlowEventRecord.objects.filter(trace_id=trace_id).order_by("seq"))
    if not rows:
        return []
    start = rows[0].data["ts"]
    return [{**row.data, "elapsed_ms": round((row.data["ts"] - start) * 1000)} for row in rows]


def events_recent(*, after_seq: int = 0, limit: int = 200) -> list[dict[str, Any]]:
    rows = FlowEventRecord.objects.filter(seq__gt=after_seq).order_by("seq")[:limit]
    return [row.data for row in rows]
