"""The inspector and redrive through the JSON API, on the embedded backend."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from dashboard.models import ApiToken, RedriveJournalEntry
from messaging import publishing, resources
from messaging.config import BackendConfig
from messaging.connection import Connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def embedded(settings, moto_url: str) -> Connection:
    settings.FLOWDASH_BACKEND = BackendConfig(backend="embedded", endpoint_url=moto_url)
    return Connection(settings.FLOWDASH_BACKEND, endpoint_url=moto_url)


@pytest.fixture
def api(embedded: Connection, instructor: User) -> Client:
    _, secret = ApiToken.issue(user=instructor, name="t")
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_inspect_shows_in_flight_messages_with_their_countdown(api: Client, embedded) -> None:
    queue = resources.queue_create(embedded, name="work", new_dead_letter_queue="work-dlq")
    publishing.queue_send(embedded, queue_url=queue.url, body="<b>not bold</b>")
    publishing.queue_receive(embedded, queue_url=queue.url, visibility_timeout=30)
    view = api.get(f"/api/queues/{queue.arn}/inspect").json()
    assert view["kind"] == "embedded"
    assert view["counts"] == {"visible": 0, "in_flight": 1, "delayed": 0}
    (message,) = view["messages"]
    assert message["body"] == "<b>not bold</b>" and message["receive_count"] == 1
    assert 25_000 < message["visible_at"] - view["now_ms"] <= 30_000
    assert view["max_receive_count"] == 5


def test_redrive_through_the_api_in_steps(api: Client, embedded) -> None:
    source = resources.queue_create(
        embedded, name="orders", visibility_timeout=0, new_dead_letter_queue="orders-dlq",
        max_receive_count=1,
    )  # fmt: skip
    for n in range(12):
        publishing.queue_send(embedded, queue_url=source.url, body=f"order {n}")
    dlq_arn = source.dead_letter_arn
    for _ in range(4):
        publishing.queue_receive(embedded, queue_url=source.url, visibility_timeout=0)
    sources = api.get(f"/api/queues/{dlq_arn}/dead-letter-sources").json()
    assert [q["arn"] for q in sources] == [source.arn]
    moved = []
    while True:
        step = api.post(
            f"/api/queues/{dlq_arn}/redrive", {"source_arn": source.arn, "limit": 5},
            content_type="application/json",
        ).json()  # fmt: skip
        if step["moved"] == 0:
            break
        moved.append(step["moved"])
    assert sum(moved) == 12 and moved[0] == 5
    assert RedriveJournalEntry.objects.count() == 12
    view = api.get(f"/api/queues/{source.arn}/inspect").json()
    assert sorted(m["body"] for m in view["messages"]) == sorted(f"order {n}" for n in range(12))


def test_redrive_to_a_queue_that_is_not_the_source(api: Client, embedded) -> None:
    dlq = resources.queue_create(embedded, name="parking")
    other = resources.queue_create(embedded, name="other")
    response = api.post(
        f"/api/queues/{dlq.arn}/redrive", {"source_arn": other.arn},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "parking is not the dead-letter queue of other."
