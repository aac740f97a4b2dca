"""What the API's send path caches: queue URLs and FIFO settings, asked once and
forgotten when the resource goes. Counted in AWS requests, never timed."""

from __future__ import annotations

import pytest
from django.test import Client

from dashboard.backend import connection

from .conftest import api_post as post

pytestmark = pytest.mark.django_db


def requests(operation: str) -> int:
    return connection().requests.snapshot().get(operation, 0)


def queue(token: str, name: str, **options: object) -> dict:
    response = post("/api/queues", token, {"name": name, **options})
    assert response.status_code == 201, response.content
    return response.json()


def test_a_queue_url_is_asked_once(token: str) -> None:
    jobs = queue(token, "jobs")
    before = requests("sqs.GetQueueUrl")
    for n in range(3):
        assert (
            post(f"/api/queues/{jobs['arn']}/messages", token, {"body": f"m{n}"}).status_code == 200
        )
    assert requests("sqs.GetQueueUrl") - before == 1
    assert requests("sqs.SendMessage") == 3


def test_a_queue_deleted_behind_flowdash_answers_as_before(token: str, sqs) -> None:
    jobs = queue(token, "jobs")
    assert post(f"/api/queues/{jobs['arn']}/messages", token, {"body": "a"}).status_code == 200
    sqs.delete_queue(QueueUrl=jobs["url"])  # not through Flowdash: the cache still has it
    response = post(f"/api/queues/{jobs['arn']}/messages", token, {"body": "b"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["field"] == "queue"
    uncached = Client().get(f"/api/queues/{jobs['arn']}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert error == uncached.json()["error"]


def test_a_queue_recreated_behind_flowdash_gets_the_message_once(token: str, sqs) -> None:
    jobs = queue(token, "jobs")
    assert post(f"/api/queues/{jobs['arn']}/messages", token, {"body": "a"}).status_code == 200
    sqs.delete_queue(QueueUrl=jobs["url"])
    url = sqs.create_queue(QueueName=jobs["name"])["QueueUrl"]
    response = post(f"/api/queues/{jobs['arn']}/messages", token, {"body": "b"})
    assert response.status_code == 200, response.content
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in received] == ["b"]


def test_deleting_through_flowdash_forgets_the_url(token: str) -> None:
    jobs = queue(token, "jobs")
    assert post(f"/api/queues/{jobs['arn']}/messages", token, {"body": "a"}).status_code == 200
    deleted = Client().delete(f"/api/queues/{jobs['arn']}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert deleted.status_code == 204
    sends = requests("sqs.SendMessage")
    response = post(f"/api/queues/{jobs['arn']}/messages", token, {"body": "b"})
    assert response.status_code == 404
    assert requests("sqs.SendMessage") == sends  # resolved again, not sent to a stale URL


def test_fifo_content_deduplication_is_asked_once(token: str) -> None:
    topic = post(
        "/api/topics", token,
        {"name": "orders.fifo", "fifo": True, "content_based_deduplication": True},
    ).json()  # fmt: skip
    before = requests("sns.GetTopicAttributes")
    for n in range(3):
        response = post(
            f"/api/topics/{topic['arn']}/publish", token,
            {"body": f"o{n}", "message_group_id": "g"},
        )  # fmt: skip
        assert response.status_code == 200, response.content
    assert requests("sns.GetTopicAttributes") - before == 1


def test_fifo_queue_without_content_deduplication_still_needs_an_id(token: str) -> None:
    jobs = queue(token, "jobs.fifo", fifo=True)
    for _ in range(2):  # the second answer comes from the cache, and says the same
        response = post(
            f"/api/queues/{jobs['arn']}/messages", token, {"body": "x", "message_group_id": "g"}
        )
        assert response.status_code == 400
        assert response.json()["error"] == {
            "code": "InvalidInput",
            "message": (
                "This FIFO queue has no content-based deduplication: give a deduplication id."
            ),
            "field": "deduplication_id",
        }
