"""Changing a queue's settings: checked as SQS checks them, applied whole or not at all."""

from __future__ import annotations

import json

import pytest

from messaging import resources
from messaging.connection import Connection
from messaging.errors import InvalidInput
from messaging.resources.queues import NO_DEAD_LETTER_QUEUE, NOTHING_TO_UPDATE

SETTINGS = ("VisibilityTimeout", "DelaySeconds", "MessageRetentionPeriod", "RedrivePolicy")


def settings(conn: Connection, url: str) -> dict[str, str]:
    attributes = resources.queue_get(conn, url=url).attributes
    return {k: attributes[k] for k in SETTINGS if k in attributes}


def test_each_setting_changes_and_the_rest_stay(conn: Connection) -> None:
    queue = resources.queue_create(
        conn, name="jobs", visibility_timeout=30, new_dead_letter_queue="jobs-dlq",
        max_receive_count=3,
    )  # fmt: skip
    updated = resources.queue_update(conn, url=queue.url, visibility_timeout=45)
    assert updated.attributes["VisibilityTimeout"] == "45"
    assert updated.max_receive_count == 3
    updated = resources.queue_update(conn, url=queue.url, delay_seconds=900)
    assert updated.attributes["DelaySeconds"] == "900"
    assert updated.attributes["VisibilityTimeout"] == "45"
    updated = resources.queue_update(conn, url=queue.url, retention_seconds=60)
    assert updated.attributes["MessageRetentionPeriod"] == "60"
    updated = resources.queue_update(conn, url=queue.url, max_receive_count=1000)
    assert updated.max_receive_count == 1000
    # The redrive policy keeps its target: only the count changed.
    assert updated.dead_letter_arn == queue.dead_letter_arn
    policy = json.loads(updated.attributes["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == queue.dead_letter_arn


def test_all_at_once_at_the_lower_limits(conn: Connection) -> None:
    queue = resources.queue_create(conn, name="low", new_dead_letter_queue="low-dlq")
    updated = resources.queue_update(
        conn, url=queue.url, visibility_timeout=0, delay_seconds=0, retention_seconds=60,
        max_receive_count=1,
    )  # fmt: skip
    assert settings(conn, queue.url)["VisibilityTimeout"] == "0"
    assert updated.attributes["DelaySeconds"] == "0"
    assert updated.attributes["MessageRetentionPeriod"] == "60"
    assert updated.max_receive_count == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"visibility_timeout": 43201}, "visibility_timeout",
         "The visibility timeout (seconds) must be between 0 and 43200; got 43201."),
        ({"visibility_timeout": -1}, "visibility_timeout",
         "The visibility timeout (seconds) must be between 0 and 43200; got -1."),
        ({"delay_seconds": 901}, "delay_seconds",
         "The delay (seconds) must be between 0 and 900; got 901."),
        ({"retention_seconds": 59}, "retention_seconds",
         "The retention period (seconds) must be between 60 and 1209600; got 59."),
        ({"retention_seconds": 1209601}, "retention_seconds",
         "The retention period (seconds) must be between 60 and 1209600; got 1209601."),
        ({"max_receive_count": 0}, "max_receive_count",
         "maxReceiveCount must be between 1 and 1000; got 0."),
        ({"max_receive_count": 1001}, "max_receive_count",
         "maxReceiveCount must be between 1 and 1000; got 1001."),
    ],
)  # fmt: skip
def test_a_bad_value_names_its_field_and_changes_nothing(
    conn: Connection, change: dict[str, int], field: str, message: str
) -> None:
    queue = resources.queue_create(
        conn, name="strict", visibility_timeout=30, new_dead_letter_queue="strict-dlq",
        max_receive_count=3,
    )  # fmt: skip
    before = settings(conn, queue.url)
    # A good value beside the bad one is not applied either.
    good = {"visibility_timeout": 12} if field != "visibility_timeout" else {"delay_seconds": 5}
    with pytest.raises(InvalidInput) as caught:
        resources.queue_update(conn, url=queue.url, **good, **change)
    assert caught.value.field == field
    assert caught.value.message == message
    assert settings(conn, queue.url) == before


def test_max_receive_count_needs_a_dead_letter_queue(conn: Connection) -> None:
    queue = resources.queue_create(conn, name="plain", visibility_timeout=30)
    before = settings(conn, queue.url)
    with pytest.raises(InvalidInput) as caught:
        resources.queue_update(conn, url=queue.url, visibility_timeout=10, max_receive_count=4)
    assert (caught.value.field, caught.value.message) == ("max_receive_count", NO_DEAD_LETTER_QUEUE)
    assert settings(conn, queue.url) == before


def test_nothing_to_change_is_refused(conn: Connection) -> None:
    queue = resources.queue_create(conn, name="idle")
    with pytest.raises(InvalidInput) as caught:
        resources.queue_update(conn, url=queue.url)
    assert caught.value.message == NOTHING_TO_UPDATE
