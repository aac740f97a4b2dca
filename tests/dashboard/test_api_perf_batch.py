"""The batch endpoints: PublishBatch and SendMessageBatch for up to 10 messages, with
per-entry errors as AWS gives them, and the batch as a whole refused before any send."""

from __future__ import annotations

import json

import pytest

from messaging.publishing import BATCH_COUNT, BATCH_ID_INVALID, BATCH_ID_TWICE

from .conftest import api_post as post

pytestmark = pytest.mark.django_db


def created(response) -> dict:
    assert response.status_code == 201, response.content
    return response.json()


def bodies(sqs, url: str, *, from_topic: bool = False) -> list[str]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    return sorted(json.loads(m["Body"])["Message"] if from_topic else m["Body"] for m in messages)


def test_topic_batch_sends_the_good_entries_and_names_the_bad(token: str, sqs) -> None:
    topic = created(post("/api/topics", token, {"name": "orders"}))
    jobs = created(post("/api/queues", token, {"name": "jobs"}))
    created(
        post("/api/subscriptions", token,
             {"topic_arn": topic["arn"], "protocol": "sqs", "endpoint": jobs["arn"]})
    )  # fmt: skip
    response = post(
        f"/api/topics/{topic['arn']}/publish-batch",
        token,
        {
            "entries": [
                {"id": "a", "body": "first", "subject": "hello"},
                {"id": "b", "body": ""},
                {"id": "c", "body": "third",
                 "attributes": [{"name": "n", "type": "Number", "value": "3"}]},
            ]
        },
    )  # fmt: skip
    assert response.status_code == 200, response.content
    result = response.json()
    assert [s["id"] for s in result["successful"]] == ["a", "c"]
    assert all(s["message_id"] for s in result["successful"])
    assert result["failed"] == [
        {
            "id": "b",
            "code": "InvalidInput",
            "message": "The message body must not be empty.",
            "field": "body",
            "sender_fault": True,
        }
    ]
    assert bodies(sqs, jobs["url"], from_topic=True) == ["first", "third"]


def test_queue_batch_sends_each_entry_once(token: str, sqs) -> None:
    jobs = created(post("/api/queues", token, {"name": "jobs"}))
    entries = [{"id": f"m{n}", "body": f"body {n}"} for n in range(10)]
    response = post(f"/api/queues/{jobs['arn']}/messages/batch", token, {"entries": entries})
    assert response.status_code == 200, response.content
    assert [s["id"] for s in response.json()["successful"]] == [e["id"] for e in entries]
    assert response.json()["failed"] == []
    received = []
    while batch := sqs.receive_message(QueueUrl=jobs["url"], MaxNumberOfMessages=10).get(
        "Messages"
    ):
        received += [m["Body"] for m in batch]
    assert sorted(received) == sorted(e["body"] for e in entries)


def test_fifo_queue_batch_fails_entries_without_a_group(token: str, sqs) -> None:
    jobs = created(
        post("/api/queues", token,
             {"name": "jobs.fifo", "fifo": True, "content_based_deduplication": True})
    )  # fmt: skip
    response = post(
        f"/api/queues/{jobs['arn']}/messages/batch",
        token,
        {"entries": [{"id": "a", "body": "x", "message_group_id": "g"}, {"id": "b", "body": "y"}]},
    )
    assert response.status_code == 200
    assert [s["id"] for s in response.json()["successful"]] == ["a"]
    assert [(f["id"], f["field"]) for f in response.json()["failed"]] == [("b", "message_group_id")]
    assert bodies(sqs, jobs["url"]) == ["x"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], BATCH_COUNT.format(max=10, count=0)),
        ([{"id": f"m{n}", "body": "x"} for n in range(11)], BATCH_COUNT.format(max=10, count=11)),
        ([{"id": "a", "body": "x"}, {"id": "a", "body": "y"}], BATCH_ID_TWICE.format(id="a")),
        ([{"id": "no spaces", "body": "x"}], BATCH_ID_INVALID.format(id="no spaces")),
    ],
)
def test_a_bad_batch_is_refused_whole(token: str, sqs, entries: list, message: str) -> None:
    jobs = created(post("/api/queues", token, {"name": "jobs"}))
    response = post(f"/api/queues/{jobs['arn']}/messages/batch", token, {"entries": entries})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "InvalidInput",
        "message": message,
        "field": "entries",
    }
    assert "Messages" not in sqs.receive_message(QueueUrl=jobs["url"])


def test_an_oversize_batch_is_refused_whole(token: str, sqs) -> None:
    topic = created(post("/api/topics", token, {"name": "orders"}))
    entries = [{"id": f"m{n}", "body": "x" * 30_000} for n in range(10)]  # 300 kB > 256 KiB
    response = post(f"/api/topics/{topic['arn']}/publish-batch", token, {"entries": entries})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "entries"
    assert error["message"].startswith("The batch is 300,000 bytes")


def test_a_batch_counts_each_message_against_the_rate_limit(token: str, sqs, settings) -> None:
    settings.FLOWDASH_PUBLISH_RATE = "15/60"
    jobs = created(post("/api/queues", token, {"name": "jobs"}))
    entries = [{"id": f"m{n}", "body": "x"} for n in range(10)]
    url = f"/api/queues/{jobs['arn']}/messages/batch"
    assert post(url, token, {"entries": entries}).status_code == 200
    refused = post(url, token, {"entries": entries})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RateLimited"
    assert len(sqs.receive_message(QueueUrl=jobs["url"], MaxNumberOfMessages=10)["Messages"]) == 10
    assert post(url, token, {"entries": entries[:5]}).status_code == 200


def test_a_missing_queue_is_a_404(token: str) -> None:
    missing = "arn:aws:sqs:us-east-1:123456789012:nope"
    response = post(
        f"/api/queues/{missing}/messages/batch", token, {"entries": [{"id": "a", "body": "x"}]}
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "queue"
