"""Reads of what Flowdash stored: flow events, traces, HTTP deliveries, API tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from messaging.filter_policy import filter_policy_evaluate, filter_policy_validate

from .models import ApiToken, FlowEventRecord, HttpDelivery, token_digest


def trace_get(*, trace_id: str) -> list[dict[str, Any]]:
    """The journey of one message, in order, each event with its time since the first."""
    rows = list(FlowEventRecord.objects.filter(trace_id=trace_id).order_by("seq"))
    if not rows:
        return []
    start = rows[0].data["ts"]
    return [
        {
            **row.data,
            "elapsed_ms": round((row.data["ts"] - start) * 1000),
            "where": row.data.get("endpoint")
            or row.data.get("queue_arn")
            or row.data.get("topic_arn"),
        }
        for row in rows
    ]


def policy_preview(
    *,
    topic_arn: str,
    policy: str | dict[str, Any],
    scope: str,
    unsaved: Sequence[dict[str, Any]] = (),
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Which of the topic's last published messages a filter policy would accept (AWS's
    rules). ``unsaved`` are publications not yet written to the event log."""
    parsed = filter_policy_validate(policy, scope=scope)
    rows = FlowEventRecord.objects.filter(type="published", resource=topic_arn).order_by("-seq")
    published = {data["seq"]: data for data in rows.values_list("data", flat=True)[:limit]}
    published.update((data["seq"], data) for data in unsaved)
    preview = []
    for seq in sorted(published, reverse=True)[:limit]:
        data = published[seq]
        result = filter_policy_evaluate(
            parsed, scope=scope, message_attributes=data.get("attributes") or {},
            body=data.get("body", ""),
        )  # fmt: skip
        preview.append(
            {
                "trace_id": data["trace_id"],
                "body": data.get("body", ""),
                "attributes": data.get("attributes") or {},
                "matched": result.matched,
                "reason": result.reason,
            }
        )
    return preview


OUTSIDE_SQS = ("sms", "email", "email-json", "http", "https", "application")


def outbox_recent(
    *, embedded_records: list[dict[str, str]], limit: int = 50
) -> list[dict[str, Any]]:
    """What SNS sent outside SQS, newest first: deliveries to SMS, email, HTTP and push
    subscriptions (from the flow events), what reached Flowdash's own HTTP receiver,
    and, with the embedded backend, the direct SMS and push sends moto recorded."""
    delivered = list(
        FlowEventRecord.objects.filter(type="delivered", data__protocol__in=OUTSIDE_SQS)
        .order_by("-seq")
        .values_list("data", flat=True)[:limit]
    )
    bodies = dict(
        FlowEventRecord.objects.filter(
            type="published", trace_id__in=[d["trace_id"] for d in delivered]
        ).values_list("trace_id", "data__body")
    )
    # A device's copy names what it received (its platform's payload); others the body.
    # Watched from outside, a delivery says nothing of the device's payload, so where
    # the embedded backend recorded the push itself, its record says what was sent.
    recorded = {(r["to"], r["message_id"]): r["body"] for r in embedded_records}
    cards: list[dict[str, Any]] = [
        {
            "kind": d["protocol"], "to": d["endpoint"], "trace_id": d["trace_id"],
            "body": d["body"] if d.get("body") is not None else recorded.get(
                (d["endpoint"], d["trace_id"]), bodies.get(d["trace_id"], "")
            ),
            "ts": d["ts"], "source": "subscription",
        }
        for d in delivered
    ]  # fmt: skip
    # The embedded backend also records a topic's pushes by the publication's id: one card.
    seen = {(c["to"], c["trace_id"]) for c in cards}
    embedded_records = [r for r in embedded_records if (r["to"], r["message_id"]) not in seen]
    cards += [
        {
            "kind": "http-received", "to": "/hooks/sns/", "trace_id": h.message_id,
            "body": h.body, "ts": h.received_at.timestamp(), "source": "receiver",
        }
        for h in HttpDelivery.objects.all()[:limit]
    ]  # fmt: skip
    cards += [
        {**r, "trace_id": r["message_id"], "ts": None, "source": "embedded"}
        for r in reversed(embedded_records[-limit:])
    ]
    return cards


def http_deliveries_list(*, after_id: int = 0, limit: int = 100) -> list[HttpDelivery]:
    """What SNS POSTed to Flowdash's own HTTP receiver after ``after_id``, newest first
    (the model's ordering), so a page can poll for what is new."""
    return list(HttpDelivery.objects.filter(id__gt=after_id)[:limit])


def api_token_get(*, token: str) -> ApiToken | None:
    """The active token with this secret, with its user; found by digest, since only
    the digest is stored."""
    return (
        ApiToken.objects.active().select_related("user").filter(digest=token_digest(token)).first()
    )
