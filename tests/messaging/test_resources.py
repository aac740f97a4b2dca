"""Topics, queues and subscriptions against a real moto server over HTTP."""

from __future__ import annotations

import json

import pytest

from messaging import resources, subscriptions
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.errors import (
    InvalidInput,
    OutsidePrefix,
    ReadOnly,
    ResourceConflict,
    ResourceNotFound,
)
from messaging.topology import topology_get


def queue_names(conn: Connection) -> list[str]:
    return sorted(u.rsplit("/", 1)[-1] for u in conn.sqs.list_queues().get("QueueUrls", []))


def topic_names(conn: Connection) -> list[str]:
    return sorted(t["TopicArn"].rsplit(":", 1)[-1] for t in conn.sns.list_topics()["Topics"])


def test_topic_create_list_delete(conn: Connection) -> None:
    topic = resources.topic_create(conn, name="orders")
    fifo = resources.topic_create(
        conn, name="orders.fifo", fifo=True, content_based_deduplication=True
    )
    assert topic.arn.endswith(":orders") and not topic.fifo
    assert fifo.fifo and fifo.content_based_deduplication
    assert [t.name for t in resources.topic_list(conn)] == ["orders", "orders.fifo"]
    # Idempotent, as CreateTopic is.
    assert resources.topic_create(conn, name="orders").arn == topic.arn
    resources.topic_delete(conn, arn=topic.arn)
    assert topic_names(conn) == ["orders.fifo"]


@pytest.mark.parametrize(
    ("name", "fifo", "message"),
    [
        ("", False, "Enter a topic name."),
        ("has space", False, "letters, digits, '-' and '_'"),
        ("x" * 257, False, "at most 256 characters"),
        ("plain", True, "must end in '.fifo'"),
        ("odd.fifo", False, "Only FIFO topics may end in '.fifo'"),
    ],
)
def test_topic_name_rules(conn: Connection, name: str, fifo: bool, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        resources.topic_create(conn, name=name, fifo=fifo)
    assert message in info.value.message
    assert info.value.field == "name"
    assert topic_names(conn) == []


def test_queue_create_with_attributes_and_depth(conn: Connection) -> None:
    queue = resources.queue_create(
        conn,
        name="work",
        visibility_timeout=45,
        delay_seconds=2,
        retention_seconds=3600,
        receive_wait_seconds=5,
    )
    assert queue.attributes["VisibilityTimeout"] == "45"
    assert queue.attributes["DelaySeconds"] == "2"
    assert queue.attributes["MessageRetentionPeriod"] == "3600"
    assert queue.attributes["ReceiveMessageWaitTimeSeconds"] == "5"
    conn.sqs.send_message(QueueUrl=queue.url, MessageBody="a", DelaySeconds=0)
    conn.sqs.send_message(QueueUrl=queue.url, MessageBody="b", DelaySeconds=0)
    conn.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=1)
    conn.sqs.send_message(QueueUrl=queue.url, MessageBody="c")  # queue delay: 2 s
    depth = resources.queue_get(conn, url=queue.url).depth
    assert (depth.visible, depth.in_flight, depth.delayed) == (1, 1, 1)


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"name": "a" * 81}, "name", "at most 80 characters"),
        ({"name": "bad/name"}, "name", "letters, digits"),
        ({"name": "q", "fifo": True}, "name", "must end in '.fifo'"),
        ({"name": "q", "visibility_timeout": 43201}, "visibility_timeout", "between 0 and 43200"),
        ({"name": "q", "delay_seconds": 901}, "delay_seconds", "between 0 and 900"),
        ({"name": "q", "retention_seconds": 10}, "retention_seconds", "between 60"),
        ({"name": "q", "receive_wait_seconds": 21}, "receive_wait_seconds", "between 0 and 20"),
        ({"name": "q", "content_based_deduplication": True}, "content_based_deduplication", "FIFO"),
        (
            {"name": "q", "new_dead_letter_queue": "d", "max_receive_count": 1001},
            "max_receive_count",
            "between 1 and 1000",
        ),
    ],
)
def test_queue_input_rules(conn: Connection, kwargs: dict, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        resources.queue_create(conn, **kwargs)
    assert info.value.field == field
    assert message in info.value.message
    assert queue_names(conn) == []


def test_queue_with_new_dead_letter_queue(conn: Connection) -> None:
    queue = resources.queue_create(
        conn, name="orders", new_dead_letter_queue="orders-dlq", max_receive_count=3
    )
    assert queue_names(conn) == ["orders", "orders-dlq"]
    assert queue.dead_letter_arn and queue.dead_letter_arn.endswith(":orders-dlq")
    assert queue.max_receive_count == 3
    redrive = json.loads(queue.attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 3


def test_queue_with_existing_dead_letter_queue(conn: Connection) -> None:
    dlq = resources.queue_create(conn, name="parking")
    queue = resources.queue_create(conn, name="work", dead_letter_queue_arn=dlq.arn)
    assert queue.dead_letter_arn == dlq.arn
    assert queue.max_receive_count == resources.DEFAULT_MAX_RECEIVE_COUNT


def test_dead_letter_queue_of_the_wrong_type(conn: Connection) -> None:
    standard = resources.queue_create(conn, name="parking")
    with pytest.raises(InvalidInput) as info:
        resources.queue_create(
            conn, name="work.fifo", fifo=True, dead_letter_queue_arn=standard.arn
        )
    assert info.value.field == "dead_letter_queue_arn"
    assert "must be FIFO" in info.value.message
    assert queue_names(conn) == ["parking"]


def test_missing_dead_letter_queue(conn: Connection) -> None:
    with pytest.raises(ResourceNotFound) as info:
        resources.queue_create(
            conn, name="work", dead_letter_queue_arn="arn:aws:sqs:us-east-1:123456789012:nope"
        )
    assert info.value.field == "dead_letter_queue_arn"
    assert queue_names(conn) == []


def test_failed_queue_removes_the_dead_letter_queue_it_made(conn: Connection) -> None:
    """The main queue fails at AWS (same name, other settings) after the DLQ was made."""
    resources.queue_create(conn, name="orders", visibility_timeout=10)
    with pytest.raises(ResourceConflict) as info:
        resources.queue_create(
            conn, name="orders", visibility_timeout=60, new_dead_letter_queue="orders-dlq"
        )
    assert "exists already with different settings" in info.value.message
    assert queue_names(conn) == ["orders"]


def test_new_dead_letter_queue_that_exists_already(conn: Connection) -> None:
    resources.queue_create(conn, name="taken")
    with pytest.raises(ResourceConflict) as info:
        resources.queue_create(conn, name="work", new_dead_letter_queue="taken")
    assert info.value.field == "new_dead_letter_queue"
    assert queue_names(conn) == ["taken"]


def test_subscriptions_with_filter_policy_and_raw_delivery(conn: Connection) -> None:
    topic = resources.topic_create(conn, name="orders")
    queue = resources.queue_create(conn, name="billing")
    sub = subscriptions.subscription_create(
        conn,
        topic_arn=topic.arn,
        protocol="sqs",
        endpoint=queue.arn,
        filter_policy='{"region": ["eu-west-1"]}',
        raw_message_delivery=True,
    )
    assert sub.raw_message_delivery and sub.filter_policy_scope == "MessageAttributes"
    assert json.loads(sub.filter_policy or "") == {"region": ["eu-west-1"]}
    # The queue policy lets the topic deliver (what real AWS needs).
    policy = json.loads(
        conn.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["Policy"])["Attributes"][
            "Policy"
        ]
    )
    (statement,) = [s for s in policy["Statement"] if s["Sid"] == subscriptions.POLICY_SID]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [topic.arn]

    updated = subscriptions.subscription_update(
        conn,
        arn=sub.arn,
        filter_policy='{"kind": [{"prefix": "ord"}]}',
        filter_policy_scope="MessageBody",
    )
    assert updated.filter_policy_scope == "MessageBody"
    assert json.loads(updated.filter_policy or "") == {"kind": [{"prefix": "ord"}]}
    removed = subscriptions.subscription_update(conn, arn=sub.arn, filter_policy=None)
    assert removed.filter_policy is None

    allowing = Connection(
        BackendConfig(http_allowed_hosts=(".example.com",)), endpoint_url=conn.endpoint_url
    )
    http = subscriptions.subscription_create(
        allowing, topic_arn=topic.arn, protocol="https", endpoint="https://hooks.example.com/in"
    )
    email = subscriptions.subscription_create(
        conn, topic_arn=topic.arn, protocol="email", endpoint="ops@example.com"
    )
    sms = subscriptions.subscription_create(
        conn, topic_arn=topic.arn, protocol="sms", endpoint="+14155550100"
    )
    listed = {s.protocol for s in subscriptions.subscription_list(conn, topic_arn=topic.arn)}
    assert listed == {"sqs", "https", "email", "sms"}
    for s in (http, email, sms):
        subscriptions.subscription_delete(conn, arn=s.arn)
    assert [s.protocol for s in subscriptions.subscription_list(conn)] == ["sqs"]


@pytest.mark.parametrize(
    ("protocol", "endpoint", "field", "message"),
    [
        ("https", "http://example.com", "endpoint", "starting with https://"),
        ("https", "https://169.254.169.254/latest", "endpoint", "not an allowed host"),
        ("http", "http://localhost:8000/admin", "endpoint", "not an allowed host"),
        ("email", "not-an-address", "endpoint", "Enter an email address."),
        ("sms", "12345", "endpoint", "E.164"),
        ("sqs", "not-an-arn", "endpoint", "choose a queue"),
        ("carrier-pigeon", "x", "protocol", "Protocol must be one of"),
    ],
)
def test_subscription_endpoint_rules(
    conn: Connection, protocol: str, endpoint: str, field: str, message: str
) -> None:
    topic = resources.topic_create(conn, name="orders")
    with pytest.raises(InvalidInput) as info:
        subscriptions.subscription_create(
            conn, topic_arn=topic.arn, protocol=protocol, endpoint=endpoint
        )
    assert info.value.field == field
    assert message in info.value.message
    assert subscriptions.subscription_list(conn) == []


def test_standard_queue_cannot_subscribe_to_fifo_topic(conn: Connection) -> None:
    topic = resources.topic_create(conn, name="events.fifo", fifo=True)
    queue = resources.queue_create(conn, name="standard")
    with pytest.raises(InvalidInput) as info:
        subscriptions.subscription_create(
            conn, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn
        )
    assert info.value.field == "endpoint"
    assert "FIFO topic can deliver only to FIFO queues" in info.value.message
    assert subscriptions.subscription_list(conn) == []


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({f"k{i}": ["v"] for i in range(6)}), "at most 5"),
    ],
)
def test_bad_filter_policy_is_refused(conn: Connection, policy: str, message: str) -> None:
    topic = resources.topic_create(conn, name="orders")
    queue = resources.queue_create(conn, name="billing")
    with pytest.raises(InvalidInput) as info:
        subscriptions.subscription_create(
            conn, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn, filter_policy=policy
        )
    assert info.value.field == "filter_policy"
    assert message in info.value.message
    assert subscriptions.subscription_list(conn) == []


def test_prefix_limits_what_flowdash_sees_and_touches(moto_url: str) -> None:
    bare = Connection(BackendConfig(), endpoint_url=moto_url)
    prefixed = Connection(BackendConfig(resource_prefix="fd-"), endpoint_url=moto_url)
    foreign = bare.sqs.create_queue(QueueName="someone-elses")["QueueUrl"]
    foreign_topic = bare.sns.create_topic(Name="theirs")["TopicArn"]
    mine = resources.queue_create(prefixed, name="work")
    assert mine.name == "fd-work"
    assert resources.queue_create(prefixed, name="fd-work").url == mine.url  # no double prefix
    assert [q.name for q in resources.queue_list(prefixed)] == ["fd-work"]
    assert resources.topic_list(prefixed) == []
    with pytest.raises(OutsidePrefix) as info:
        resources.queue_delete(prefixed, url=foreign)
    assert "'fd-'" in info.value.message
    with pytest.raises(OutsidePrefix):
        resources.topic_delete(prefixed, arn=foreign_topic)
    assert "someone-elses" in queue_names(bare)


def test_tap_queues_stay_out_of_listings(conn: Connection) -> None:
    conn.sqs.create_queue(QueueName=resources.TAP_MARK + "orders")
    resources.queue_create(conn, name="work")
    assert [q.name for q in resources.queue_list(conn)] == ["work"]


def test_topology(conn: Connection) -> None:
    topic = resources.topic_create(conn, name="orders")
    queue = resources.queue_create(conn, name="billing", new_dead_letter_queue="billing-dlq")
    subscriptions.subscription_create(conn, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn)
    topology = topology_get(conn)
    assert [t.name for t in topology.topics] == ["orders"]
    assert [q.name for q in topology.queues] == ["billing", "billing-dlq"]
    assert [(s.topic_arn, s.endpoint) for s in topology.subscriptions] == [(topic.arn, queue.arn)]


def test_read_only_refuses_every_change(moto_url: str) -> None:
    conn = Connection(BackendConfig(), endpoint_url=moto_url)
    queue = resources.queue_create(conn, name="work")
    watching = Connection(BackendConfig(read_only=True), endpoint_url=moto_url)
    assert [q.name for q in resources.queue_list(watching)] == ["work"]  # reads still work
    for attempt in (
        lambda: resources.topic_create(watching, name="t"),
        lambda: resources.queue_create(watching, name="q"),
        lambda: resources.queue_delete(watching, url=queue.url),
        lambda: resources.queue_purge(watching, url=queue.url),
    ):
        with pytest.raises(ReadOnly) as info:
            attempt()
        assert "read-only" in info.value.message
    assert queue_names(conn) == ["work"]
