"""The filter-policy preview judges the topic's latest publications, including those the
engine has not yet written to the event log (it writes every ``PERSIST_INTERVAL``): a
user who publishes and then previews sees what was just published."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.test import Client

from dashboard import flowbus
from dashboard.models import FlowEventRecord
from messaging import publishing, resources, subscriptions
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.validation import MessageAttribute

from .test_flow_stream import connect, live_settings, stream

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["live_settings", "stream"]


def preview(sub_arn: str, policy: str) -> list[dict]:
    user, _ = User.objects.get_or_create(username="previewer")
    client = Client()
    client.force_login(user)
    answer = client.post(
        f"/api/subscriptions/{sub_arn}/preview",
        {"filter_policy": policy, "filter_policy_scope": "MessageAttributes"},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


async def test_preview_includes_publications_not_yet_in_the_event_log(
    stream, moto_url: str, monkeypatch
) -> None:
    monkeypatch.setattr(flowbus, "PERSIST_INTERVAL", 3600.0)  # nothing reaches the log
    conn = Connection(BackendConfig(), endpoint_url=moto_url)
    topic = resources.topic_create(conn, name="previewed")
    queue = resources.queue_create(conn, name="previewed-q")
    sub = subscriptions.subscription_create(
        conn, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn
    )
    viewer = await connect()
    traces = [
        publishing.topic_publish(
            conn, topic_arn=topic.arn, body=f"a {colour} one",
            attributes=[MessageAttribute(name="colour", type="String", value=colour)],
        ).message_id
        for colour in ("red", "blue")
    ]  # fmt: skip
    await viewer.until(lambda: all(viewer.of("published", t) for t in traces))
    stored = await database_sync_to_async(FlowEventRecord.objects.filter(type="published").count)()
    assert stored == 0

    rows = await database_sync_to_async(preview)(sub.arn, '{"colour": ["red"]}')
    assert [(r["body"], r["matched"]) for r in rows] == [("a blue one", False), ("a red one", True)]
    await viewer.ws.disconnect()
