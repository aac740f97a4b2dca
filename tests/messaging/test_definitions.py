"""Definitions export and import (messaging/definitions.py) against the test's moto server.

Export, wipe, import: the same topology and messages come back. Importing twice changes
nothing the second time. A file with problems is refused whole, each problem named by
its place, and nothing is created. The resource prefix and read-only mode hold.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest

from messaging import publishing, resources, subscriptions
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.definitions import (
    DefinitionsInvalid,
    definitions_export,
    definitions_import,
    definitions_load,
)
from messaging.errors import ReadOnly
from messaging.validation import MessageAttribute

POLICY = {"kind": ["new"], "size": [{"numeric": [">=", 10]}]}


def build(conn: Connection) -> None:
    """A topology with every kind of thing a definitions file holds, and messages."""
    news = resources.topic_create(conn, name="news")
    lanes_topic = resources.topic_create(
        conn, name="lanes.fifo", fifo=True, content_based_deduplication=True
    )
    work = resources.queue_create(
        conn, name="work", new_dead_letter_queue="work-dlq", max_receive_count=3,
        visibility_timeout=45, retention_seconds=7200, receive_wait_seconds=5,
    )  # fmt: skip
    audit = resources.queue_create(conn, name="audit", delay_seconds=2)
    lanes = resources.queue_create(
        conn, name="lanes.fifo", fifo=True, content_based_deduplication=True
    )
    subscriptions.subscription_create(
        conn, topic_arn=news.arn, protocol="sqs", endpoint=work.arn, filter_policy=POLICY,
        raw_message_delivery=True,
    )  # fmt: skip
    subscriptions.subscription_create(
        conn, topic_arn=news.arn, protocol="sqs", endpoint=audit.arn,
        filter_policy={"lane": ["a"]}, filter_policy_scope="MessageBody",
    )  # fmt: skip
    subscriptions.subscription_create(
        conn, topic_arn=news.arn, protocol="email", endpoint="class@example.com"
    )
    subscriptions.subscription_create(
        conn, topic_arn=lanes_topic.arn, protocol="sqs", endpoint=lanes.arn
    )
    publishing.topic_publish(
        conn, topic_arn=news.arn, body="big news",
        attributes=[MessageAttribute(name="kind", type="String", value="new"),
                    MessageAttribute(name="size", type="Number", value="12")],
    )  # fmt: skip
    publishing.queue_send(
        conn, queue_url=work.url, body="direct",
        attributes=[MessageAttribute(name="blob", type="Binary", value="AP9yYXc="),
                    MessageAttribute(name="tags", type="String.Array", value='["a", 1]')],
    )  # fmt: skip
    for n in range(3):
        publishing.queue_send(
            conn, queue_url=lanes.url, body=f"lane-{n}", message_group_id=f"g{n % 2}",
        )  # fmt: skip


def normalised(document: dict[str, Any]) -> dict[str, Any]:
    """An export without what a new copy cannot keep: when it was made, message ids,
    sent timestamps and receive counts (SQS gives new ones)."""
    document = copy.deepcopy(document)
    document.pop("exported_at")
    for queue in document["queues"]:
        for message in queue.get("messages", []):
            for key in ("message_id", "sent_timestamp", "receive_count"):
                message.pop(key)
    return document


def wipe(conn: Connection) -> None:
    """Delete everything, with plain boto3: what AWS holds, not what Flowdash knows."""
    for url in conn.sqs.list_queues().get("QueueUrls", []):
        conn.sqs.delete_queue(QueueUrl=url)
    for topic in conn.sns.list_topics()["Topics"]:
        conn.sns.delete_topic(TopicArn=topic["TopicArn"])


def held(conn: Connection) -> tuple[list[str], list[str], list[str]]:
    """Queue URLs, topic ARNs and subscription ARNs, straight from the backend."""
    return (
        sorted(conn.sqs.list_queues().get("QueueUrls", [])),
        sorted(t["TopicArn"] for t in conn.sns.list_topics()["Topics"]),
        sorted(s["SubscriptionArn"] for s in conn.sns.list_subscriptions()["Subscriptions"]),
    )


def test_export_wipe_import_gives_the_same_topology_and_messages(conn: Connection) -> None:
    build(conn)
    exported = definitions_export(conn, messages=True)
    assert exported["format"] == "flowdash-definitions" and exported["version"] == 1
    assert [q["name"] for q in exported["queues"]] == ["audit", "lanes.fifo", "work", "work-dlq"]
    work = next(q for q in exported["queues"] if q["name"] == "work")
    assert (work["dead_letter_queue"], work["max_receive_count"], work["visibility_timeout"]) == (
        "work-dlq", 3, 45,
    )  # fmt: skip
    assert sorted(m["body"] for m in work["messages"]) == ["big news", "direct"]
    direct = next(m for m in work["messages"] if m["body"] == "direct")
    assert {a["name"]: (a["type"], a["value"]) for a in direct["attributes"]} == {
        "blob": ("Binary", "AP9yYXc="), "tags": ("String.Array", '["a", 1]'),
    }  # fmt: skip
    by_endpoint = {s["endpoint"]: s for s in exported["subscriptions"]}
    assert by_endpoint["work"]["filter_policy"] == POLICY
    assert by_endpoint["work"]["raw_message_delivery"] is True
    assert by_endpoint["audit"]["filter_policy_scope"] == "MessageBody"
    assert by_endpoint["class@example.com"]["protocol"] == "email"
    # Exported without receiving: nothing in flight, no receive count went up.
    assert {m["receive_count"] for q in exported["queues"] for m in q["messages"]} == {0}

    wipe(conn)
    assert held(conn) == ([], [], [])
    plan = definitions_import(conn, document=json.loads(json.dumps(exported)))
    assert plan.applied and plan.summary()["create"] == {
        "topics": 2, "queues": 4, "subscriptions": 4, "messages": 5,
    }  # fmt: skip
    again = definitions_export(conn, messages=True)
    assert normalised(again) == normalised(exported)
    # FIFO order and groups came back as they were.
    lanes = next(q for q in again["queues"] if q["name"] == "lanes.fifo")
    assert [(m["body"], m["message_group_id"]) for m in lanes["messages"]] == [
        ("lane-0", "g0"), ("lane-1", "g1"), ("lane-2", "g0"),
    ]  # fmt: skip


def test_importing_twice_changes_nothing_the_second_time(conn: Connection) -> None:
    build(conn)
    exported = definitions_export(conn, messages=True)
    wipe(conn)
    definitions_import(conn, document=exported)
    first = definitions_export(conn, messages=True)
    before = held(conn)
    plan = definitions_import(conn, document=exported)
    assert plan.applied and not plan.changes
    assert plan.summary() == {
        "create": {"topics": 0, "queues": 0, "subscriptions": 0, "messages": 0},
        "exists": {"topics": 2, "queues": 4, "subscriptions": 4},
    }
    assert plan.messages_skipped == 5
    assert plan.describe() == (
        "nothing to create; already there: 2 topics, 4 queues, 4 subscriptions; "
        "5 messages not sent (queue exists)"
    )
    assert held(conn) == before
    assert normalised(definitions_export(conn, messages=True)) == normalised(first)


def test_a_bad_file_is_refused_whole_and_creates_nothing(conn: Connection) -> None:
    resources.queue_create(conn, name="existing", visibility_timeout=30)
    before = held(conn)
    document = {
        "format": "flowdash-definitions",
        "version": 1,
        "topics": [{"name": "fine"}, {"name": "orders.fifo", "fifo": False}],
        "queues": [
            {"name": "ok"},
            {"name": "also-ok", "dead_letter_queue": "nowhere"},
            {"name": "bad name!"},
            {"name": "existing", "visibility_timeout": 60},
            {"name": "slow", "visibility_timeout": 99999},
            {"name": "typo", "fifoo": True},
            {"name": "fifo.fifo", "fifo": True, "messages": [{"body": "no group"}]},
        ],
        "subscriptions": [
            {"topic": "fine", "protocol": "sqs", "endpoint": "missing"},
            {"topic": "ghost", "protocol": "email", "endpoint": "a@example.com"},
            {"topic": "fine", "protocol": "sqs", "endpoint": "ok",
             "filter_policy": {"kind": []}},
            {"topic": "fine", "protocol": "http", "endpoint": "http://169.254.169.254/"},
        ],
    }  # fmt: skip
    with pytest.raises(DefinitionsInvalid) as refused:
        definitions_import(conn, document=document)
    problems = refused.value.problems
    assert problems[:2] == [
        "topics[1].name: Only FIFO topics may end in '.fifo'; tick FIFO or rename it.",
        "queues[2].name: A queue name may contain only letters, digits, '-' and '_'.",
    ]
    expected = [
        "queues[4].visibility_timeout: expected a whole number from 0 to 43200.",
        "queues[5].fifoo: unknown field; expected one of",
        "queues[6].messages[0].message_group_id: A FIFO queue needs a message group id.",
        "subscriptions[2].filter_policy:",
        "subscriptions[3].endpoint: SNS would call 169.254.169.254, which is not an allowed host",
        "queues[1].dead_letter_queue: no queue 'nowhere' in the file or in the backend.",
        "queues[3]: queue 'existing' exists with visibility_timeout 30 (the file says 60).",
        "subscriptions[0].endpoint: no queue 'missing' in the file or in the backend.",
        "subscriptions[1].topic: no topic 'ghost' in the file or in the backend.",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert refused.value.field == "topics[1].name"
    assert refused.value.message.startswith("topics[1].name: Only FIFO topics")
    assert held(conn) == before  # nothing half-created


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "The file is not a JSON object: a definitions file starts with '{'."),
        ({"version": 1}, "format: expected 'flowdash-definitions': this is not a Flowdash "
                         "definitions file."),
        ({"format": "flowdash-definitions", "version": 2},
         "version: this Flowdash reads version 1; the file has version 2."),
    ],
)  # fmt: skip
def test_what_is_no_definitions_file_is_named_so(
    conn: Connection, document: Any, message: str
) -> None:
    with pytest.raises(DefinitionsInvalid) as refused:
        definitions_import(conn, document=document)
    assert refused.value.message == message


def test_not_json_names_the_line() -> None:
    with pytest.raises(DefinitionsInvalid) as refused:
        definitions_load(data=b'{\n  "format": "flowdash-definitions",\n  oops\n}')
    assert refused.value.message.startswith("The file is not valid JSON (line 3, column 3:")


def test_names_are_relative_to_the_resource_prefix(moto_url: str) -> None:
    ours = Connection(BackendConfig(resource_prefix="fd-"), endpoint_url=moto_url)
    other = boto3.client(
        "sqs", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="x",
        aws_secret_access_key="x",
    )  # fmt: skip
    other.create_queue(QueueName="someone-elses")
    topic = resources.topic_create(ours, name="alerts")
    queue = resources.queue_create(ours, name="inbox")
    subscriptions.subscription_create(ours, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn)
    exported = definitions_export(ours)
    assert [q["name"] for q in exported["queues"]] == ["inbox"]
    assert exported["subscriptions"][0]["topic"] == "alerts"
    assert exported["source"]["resource_prefix"] == "fd-"

    elsewhere = Connection(BackendConfig(resource_prefix="class2-"), endpoint_url=moto_url)
    plan = definitions_import(elsewhere, document=exported)
    assert [i.name for i in plan.items if i.kind == "queue"] == ["class2-inbox"]
    names = sorted(u.rsplit("/", 1)[-1] for u in other.list_queues()["QueueUrls"])
    assert names == ["class2-inbox", "fd-inbox", "someone-elses"]
    (sub,) = subscriptions.subscription_list(elsewhere)
    assert sub.topic_arn.endswith(":class2-alerts") and sub.endpoint.endswith(":class2-inbox")


def test_read_only_refuses_to_import_but_exports(moto_url: str, conn: Connection) -> None:
    build(conn)
    exported = definitions_export(conn)
    wipe(conn)
    watching = Connection(BackendConfig(read_only=True), endpoint_url=moto_url)
    assert definitions_export(watching)["topics"] == []
    with pytest.raises(ReadOnly):
        definitions_import(watching, document=exported)
    assert held(conn) == ([], [], [])


def test_dry_run_plans_and_creates_nothing(conn: Connection) -> None:
    build(conn)
    exported = definitions_export(conn, messages=True)
    wipe(conn)
    plan = definitions_import(conn, document=exported, dry_run=True)
    assert not plan.applied and plan.changes
    assert plan.describe() == ("would create 2 topics, 4 queues, 4 subscriptions, 5 messages")
    queue_items = [(i.name, i.action, i.messages) for i in plan.items if i.kind == "queue"]
    # Dead-letter queues are created before the queues that use them.
    assert queue_items == [
        ("audit", "create", 0), ("lanes.fifo", "create", 3), ("work-dlq", "create", 0),
        ("work", "create", 2),
    ]  # fmt: skip
    assert held(conn) == ([], [], [])
