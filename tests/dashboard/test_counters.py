"""Counters that last: the snapshot's ``counts`` (per ``"<type>|<resource>"``, the keys of a
frame's ``counts``), ``subscription_counts`` and workers' processed/failed cover every
event up to its ``last_seq`` since the engine started or since "reset counters", so a
viewer that connects later starts from the same numbers a viewer who watched has."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.test import Client

from messaging import publishing, resources, subscriptions
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.validation import MessageAttribute

from .test_flow_stream import FlowClient, connect, live_settings, stream, workers_set

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["live_settings", "stream"]  # fixtures used from the stream tests


def key(event: dict[str, Any]) -> str:
    """The server's (and state.js's) ``"<type>|<resource>"`` key of an event."""
    for name in ("endpoint", "queue_arn", "topic_arn", "arn", "resource"):
        if event.get(name):
            return f"{event['type']}|{event[name]}"
    return f"{event['type']}|"


def counted(first: FlowClient, upto: int) -> Counter[str]:
    """What a viewer who watched from its snapshot to ``upto`` knows: the snapshot's counts
    plus one for every event it was sent since."""
    assert first.snapshot is not None
    counts = Counter(first.snapshot["counts"])
    counts.update(key(e) for e in first.events if e["seq"] <= upto)
    return +counts


def staff_client(is_staff: bool) -> Client:
    user, _ = User.objects.get_or_create(username=f"counter-{is_staff}", is_staff=is_staff)
    client = Client()
    client.force_login(user)
    return client


async def test_a_later_viewer_starts_from_the_same_counts(stream, moto_url: str) -> None:
    conn = Connection(BackendConfig(), endpoint_url=moto_url)
    topic = resources.topic_create(conn, name="counted")
    billing = resources.queue_create(conn, name="counted-billing")
    eu = resources.queue_create(conn, name="counted-eu")
    subs = {
        q.arn: subscriptions.subscription_create(
            conn, topic_arn=topic.arn, protocol="sqs", endpoint=q.arn, filter_policy=policy
        )
        for q, policy in ((billing, None), (eu, '{"region": ["eu-west-1"]}'))
    }
    first = await connect()
    await workers_set(billing.arn, count=2, min_ms=5, max_ms=5, wait_seconds=1)
    await first.until(lambda: first.of("resource_changed"))
    traces = [
        publishing.topic_publish(
            conn, topic_arn=topic.arn, body=f"order {i}",
            attributes=[MessageAttribute(name="region", type="String", value="us-east-1")],
        ).message_id
        for i in range(6)
    ]  # fmt: skip
    await first.until(lambda: all(first.of("processed", t) for t in traces))

    second = await connect()
    assert second.snapshot is not None
    upto = second.snapshot["last_seq"]
    await first.until(lambda: first.last_seq >= upto)
    snapshot = second.snapshot
    assert Counter(snapshot["counts"]) == counted(first, upto)
    # Every kind of event this test made is in there, per resource.
    counts = snapshot["counts"]
    assert counts[f"published|{topic.arn}"] >= 6
    assert counts[f"delivered|{billing.arn}"] >= 6
    assert counts[f"filtered|{eu.arn}"] >= 6
    assert counts[f"processed|{billing.arn}"] >= 6
    # Per subscription: exact, not split from a sample.
    seen = Counter(
        (e["type"], e["subscription_arn"])
        for e in first.events
        if e["seq"] <= upto and e["type"] in ("delivered", "filtered")
    )
    before = first.snapshot["subscription_counts"] if first.snapshot else {}
    for arn, sub in subs.items():
        shown = snapshot["subscription_counts"].get(sub.arn, {"delivered": 0, "filtered": 0})
        for kind in ("delivered", "filtered"):
            was = before.get(sub.arn, {}).get(kind, 0)
            assert shown[kind] == was + seen[(kind, sub.arn)], (arn, kind)
    # Queue totals agree with worker totals.
    workers = [w for w in snapshot["workers"] if w["queue_arn"] == billing.arn]
    assert len(workers) == 2
    assert sum(w["processed"] for w in workers) == counts[f"processed|{billing.arn}"]
    assert sum(w["failed"] for w in workers) == counts.get(f"failed|{billing.arn}", 0)
    assert snapshot["counts_since"] <= time.time()
    await first.ws.disconnect()
    await second.ws.disconnect()


async def test_reset_counters_zeroes_every_viewer(stream, moto_url: str) -> None:
    conn = Connection(BackendConfig(), endpoint_url=moto_url)
    topic = resources.topic_create(conn, name="reset-me")
    viewer = await connect()
    assert viewer.snapshot is not None
    trace = publishing.topic_publish(conn, topic_arn=topic.arn, body="one").message_id
    await viewer.until(lambda: viewer.of("published", trace))
    since = viewer.snapshot["counts_since"]

    refused = await database_sync_to_async(
        lambda: staff_client(False).post("/api/counters/reset")
    )()
    assert refused.status_code == 403
    answer = await database_sync_to_async(lambda: staff_client(True).post("/api/counters/reset"))()
    assert answer.status_code == 202 and answer.json() == {"reset": True}
    await viewer.until(
        lambda: any(
            e["kind"] == "flow" and e["action"] == "resync" for e in viewer.of("resource_changed")
        )
    )
    later = await connect()
    assert later.snapshot is not None
    counts = later.snapshot["counts"]
    assert f"published|{topic.arn}" not in counts
    # Only what happened since the reset: its own resync notice, and perhaps depth samples.
    assert set(k.split("|")[0] for k in counts) <= {"resource_changed", "depth"}
    assert later.snapshot["counts_since"] > since
    await viewer.ws.disconnect()
    await later.ws.disconnect()
