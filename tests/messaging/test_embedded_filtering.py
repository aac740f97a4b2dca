"""AWS's filter-policy rules on the embedded backend, seen by a plain boto3 client over HTTP.

Each case subscribes one SQS queue (raw delivery) to a topic with a policy moto 5.2.5
gets wrong (shared FIELD-NOTES), publishes messages, and checks that what arrives is
what AWS documents and what ``filter_policy_evaluate`` says, and that Publish never
fails. Then: policies AWS refuses are refused by Subscribe without leaving a
subscription behind, SetSubscriptionAttributes keeps the old policy when it refuses a
new one, and stock moto still differs (so we notice when moto fixes it upstream).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.sns.models import sns_backends

from messaging import resources, subscriptions
from messaging.connection import Connection
from messaging.embedded import filtering
from messaging.errors import InvalidInput
from messaging.filter_policy import FilterResult, filter_policy_evaluate
from tests.messaging.test_filter_policy import CASES as DOCUMENTED_CASES
from tests.messaging.test_filter_policy import Case as DocumentedCase

ATTRS = "MessageAttributes"
BODY = "MessageBody"


def s(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def n(value: str) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": value}


def a(*values: str) -> dict[str, str]:
    return {"DataType": "String.Array", "StringValue": json.dumps(list(values))}


@dataclass(frozen=True)
class Message:
    """One publish: ``body`` (a dict is sent as JSON) and attributes, and AWS's answer."""

    delivered: bool
    body: Any
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


@dataclass(frozen=True)
class Case:
    id: str
    policy: dict[str, Any]
    messages: list[Message]
    scope: str = ATTRS


# AWS's nested $or example ("AND/OR logic" in the SNS developer guide); moto refuses it.
NESTED_OR = {
    "source": ["aws.cloudwatch"],
    "$or": [
        {"metricName": ["CPUUtilization", "ReadLatency"]},
        {
            "metricType": ["MetricType"],
            "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}],
        },
    ],
}
STANDARD_OR = {
    "source": ["aws.cloudwatch"],
    "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
}
OVER_100 = {"price": [{"numeric": [">", 100]}]}

CASES = [
    Case(
        "cidr-ipv4",
        {"source_ip": [{"cidr": "10.0.0.0/24"}]},
        [
            Message(True, "in-range", {"source_ip": s("10.0.0.255")}),
            Message(True, "first-address", {"source_ip": s("10.0.0.0")}),
            Message(False, "next-network", {"source_ip": s("10.0.1.1")}),
            Message(False, "not-an-address", {"source_ip": s("localhost")}),
            Message(False, "missing", {"other": s("x")}),
        ],
    ),
    Case(
        "nested-or-docs-attributes",
        NESTED_OR,
        [
            Message(
                True, "metric-name", {"source": s("aws.cloudwatch"), "metricName": s("ReadLatency")}
            ),
            Message(
                True,
                "metric-type-and-space",
                {
                    "source": s("aws.cloudwatch"),
                    "metricType": s("MetricType"),
                    "spaceId": n("2000"),
                },
            ),
            Message(
                False,
                "metric-type-unknown-id",
                {"source": s("aws.cloudwatch"), "metricType": s("MetricType"), "metricId": n("9")},
            ),
            Message(False, "source-only", {"source": s("aws.cloudwatch")}),
            Message(
                False, "other-source", {"source": s("aws.events"), "metricName": s("ReadLatency")}
            ),
        ],
    ),
    Case(
        "nested-or-docs-body",
        NESTED_OR,
        [
            Message(
                True, {"source": "aws.cloudwatch", "metricType": "MetricType", "metricId": 1234}
            ),
            Message(
                False, {"source": "aws.cloudwatch", "metricType": "MetricType", "metricId": "1234"}
            ),
            Message(True, {"source": "aws.cloudwatch", "metricName": "CPUUtilization"}),
            Message(False, {"source": "aws.events", "metricName": "CPUUtilization"}),
            Message(False, "not json"),
        ],
        scope=BODY,
    ),
    Case(
        "or-body",
        STANDARD_OR,
        [
            Message(True, {"source": "aws.cloudwatch", "namespace": "AWS/EC2"}),
            Message(True, {"source": "aws.cloudwatch", "metricName": "CPUUtilization"}),
            Message(False, {"source": "aws.cloudwatch"}),
            Message(False, {"source": "aws.cloudwatch", "namespace": "AWS/S3"}),
        ],
        scope=BODY,
    ),
    Case(
        "numeric-body-array",
        OVER_100,
        [
            Message(True, {"price": [5, 200]}),
            Message(False, {"price": [5, 50]}),
            Message(True, {"price": 150}),
            Message(False, {"price": []}),
        ],
        scope=BODY,
    ),
    Case(
        "numeric-body-quoted-number",
        OVER_100,
        [
            Message(False, {"price": "150"}),
            Message(False, {"price": ["150", "200"]}),
            Message(True, {"price": 150.5}),
        ],
        scope=BODY,
    ),
    Case(
        "exists-false-attributes",
        {"store": [{"exists": False}]},
        [
            Message(False, "no-attributes"),
            Message(True, "other-attribute", {"event": s("order_placed")}),
            Message(False, "store-present", {"store": s("example_corp")}),
        ],
    ),
    Case(
        "exists-true-body-null",
        {"store": [{"exists": True}]},
        [
            Message(False, {"store": None}),
            Message(True, {"store": "example_corp"}),
            Message(True, {"store": 0}),
            Message(False, {"store": {"name": "example_corp"}}),
            Message(False, {"event": "order_placed"}),
        ],
        scope=BODY,
    ),
    Case(
        "anything-but-string-array",
        {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]},
        [
            Message(False, "one-excluded", {"customer_interests": a("soccer", "rugby")}),
            Message(True, "none-excluded", {"customer_interests": a("soccer", "hockey")}),
            Message(True, "string-allowed", {"customer_interests": s("baseball")}),
            Message(False, "string-excluded", {"customer_interests": s("rugby")}),
        ],
    ),
    Case(
        "prefix-string-array",
        {"customer_interests": [{"prefix": "bas"}]},
        [
            Message(True, "one-element", {"customer_interests": a("rugby", "basketball")}),
            Message(False, "no-element", {"customer_interests": a("rugby", "hockey")}),
        ],
    ),
    Case(
        "suffix-string-array",
        {"customer_interests": [{"suffix": "ball"}]},
        [
            Message(True, "one-element", {"customer_interests": a("football", "rugby")}),
            Message(False, "no-element", {"customer_interests": a("rugby")}),
        ],
    ),
    Case(
        "anything-but-or-absent",
        {"customer_interests": [{"anything-but": ["rugby", "tennis"]}, {"exists": False}]},
        [
            Message(True, "key-missing", {"store": s("example_corp")}),
            Message(True, "allowed", {"customer_interests": s("soccer")}),
            Message(False, "excluded", {"customer_interests": s("rugby")}),
            Message(False, "no-attributes"),
        ],
    ),
]


@pytest.fixture
def aws(moto_url: str) -> dict[str, str]:
    """Settings for a plain boto3 client: another program using the embedded server."""
    return {
        "endpoint_url": moto_url,
        "region_name": "us-east-1",
        "aws_access_key_id": "x",
        "aws_secret_access_key": "x",
    }


@pytest.fixture
def sns(aws: dict[str, str]) -> Any:
    return boto3.client("sns", **aws)


@pytest.fixture
def sqs(aws: dict[str, str]) -> Any:
    return boto3.client("sqs", **aws)


@pytest.fixture
def stock_moto() -> Iterator[None]:
    """moto's own filtering for one test; AWS's rules again after (the embedded default)."""
    filtering.filtering_revert()
    try:
        yield
    finally:
        assert filtering.filtering_apply()


def _queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def _subscribe(sns: Any, topic: str, queue_arn: str, policy: Any, scope: str = ATTRS) -> str:
    return sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={
            "FilterPolicy": policy if isinstance(policy, str) else json.dumps(policy),
            "FilterPolicyScope": scope,
            "RawMessageDelivery": "true",
        },
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]


def _publish(sns: Any, topic: str, message: Message | DocumentedCase) -> None:
    if isinstance(message, Message):
        text, attributes = message.text, message.attributes
    else:
        text, attributes = message.body_text, message.attributes or {}
    request: dict[str, Any] = {"TopicArn": topic, "Message": text}
    if attributes:
        request["MessageAttributes"] = attributes
    sns.publish(**request)  # raises on any failure, HTTP 500 included


def _drain(sqs: Any, url: str) -> list[str]:
    """Every body in the queue (moto delivers inside Publish, so nothing is on its way)."""
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
        if not got.get("Messages"):
            return bodies
        bodies += [m["Body"] for m in got["Messages"]]


def _aws_decides(policy: dict[str, Any], scope: str, message: Message) -> bool:
    envelope = {
        name: {"Type": attribute["DataType"], "Value": attribute["StringValue"]}
        for name, attribute in message.attributes.items()
    }
    result = filter_policy_evaluate(
        policy, scope=scope, message_attributes=envelope or None, body=message.text
    )
    return result.matched


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_delivery_follows_aws(sns: Any, sqs: Any, case: Case) -> None:
    texts = [message.text for message in case.messages]
    assert len(set(texts)) == len(texts), "bodies identify the messages: keep them distinct"
    topic = sns.create_topic(Name="filtering")["TopicArn"]
    url, arn = _queue(sqs, case.id)
    _subscribe(sns, topic, arn, case.policy, case.scope)

    for message in case.messages:
        _publish(sns, topic, message)

    expected = [m.text for m in case.messages if m.delivered]
    evaluated = [m.text for m in case.messages if _aws_decides(case.policy, case.scope, m)]
    assert evaluated == expected, "filter_policy_evaluate disagrees with the table"
    assert sorted(_drain(sqs, url)) == sorted(expected)


def test_cases_share_one_topic(sns: Any, sqs: Any) -> None:
    """Every case's queue on one topic, every message to all: each queue gets what AWS's
    rules give it, messages meant for other cases included."""
    topic = sns.create_topic(Name="everything")["TopicArn"]
    queues = []
    for case in CASES:
        url, arn = _queue(sqs, case.id)
        _subscribe(sns, topic, arn, case.policy, case.scope)
        queues.append((case, url))
    messages = [m for case in CASES for m in case.messages]
    for message in messages:
        _publish(sns, topic, message)

    for case, url in queues:
        expected = [m.text for m in messages if _aws_decides(case.policy, case.scope, m)]
        assert sorted(_drain(sqs, url)) == sorted(expected), case.id


def test_publish_batch_filters_the_same_way(sns: Any, sqs: Any) -> None:
    (case,) = [case for case in CASES if case.id == "numeric-body-array"]
    topic = sns.create_topic(Name="batch")["TopicArn"]
    url, arn = _queue(sqs, "batch")
    _subscribe(sns, topic, arn, case.policy, case.scope)
    entries = [{"Id": str(i), "Message": m.text} for i, m in enumerate(case.messages)]
    assert not sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries).get("Failed")
    assert sorted(_drain(sqs, url)) == sorted(m.text for m in case.messages if m.delivered)


@pytest.mark.parametrize("case", DOCUMENTED_CASES, ids=lambda case: case.id)
def test_documented_examples_delivered_as_aws_would(
    sns: Any, sqs: Any, case: DocumentedCase
) -> None:
    """The SNS developer guide's examples (tests/messaging/test_filter_policy.py) on the
    embedded backend: moto_differs cases included, they now agree with AWS."""
    topic = sns.create_topic(Name="documented")["TopicArn"]
    url, arn = _queue(sqs, "documented")
    _subscribe(sns, topic, arn, case.policy, case.scope)
    _publish(sns, topic, case)
    assert bool(_drain(sqs, url)) is case.matched


# --- what AWS refuses ----------------------------------------------------------------------

REFUSED = [
    ("empty-array", {"region": []}, ATTRS, "Filter policy key 'region' has an empty array"),
    (
        "two-operators",
        {"region": [{"prefix": "eu", "suffix": "1"}]},
        ATTRS,
        "Operator object for key 'region' has 2 keys (prefix, suffix)",
    ),
    (
        "six-keys",
        {f"key{i}": [f"value{i}"] for i in range(1, 7)},
        ATTRS,
        "Filter policy has 6 top-level keys; AWS allows at most 5",
    ),
    (
        "bad-cidr",
        {"source_ip": [{"cidr": "10.0.0.256/24"}]},
        ATTRS,
        "cidr for key 'source_ip' is not a valid IP network",
    ),
    (
        "nested-in-attribute-scope",
        {"object": {"key": ["x"]}},
        ATTRS,
        "nested keys are allowed only in MessageBody scope",
    ),
    ("not-json", '{"region": ["eu"', BODY, "Filter policy is not valid JSON"),
]


def _refusal(error: ClientError) -> str:
    assert error.response["Error"]["Code"] == "InvalidParameter"
    return error.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("policy", "scope", "message"),
    [(policy, scope, message) for _, policy, scope, message in REFUSED],
    ids=[case_id for case_id, *_ in REFUSED],
)
def test_subscribe_refuses_and_creates_nothing(
    sns: Any, sqs: Any, policy: Any, scope: str, message: str
) -> None:
    topic = sns.create_topic(Name="refusing")["TopicArn"]
    url, arn = _queue(sqs, "refused")
    _, other = _queue(sqs, "other")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=other)
    before = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]

    with pytest.raises(ClientError) as caught:
        _subscribe(sns, topic, arn, policy, scope)

    text = _refusal(caught.value)
    assert text.startswith("Invalid parameter: FilterPolicy: ")
    assert message in text
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == before
    _publish(sns, topic, Message(True, "after"))
    assert _drain(sqs, url) == []  # no unfiltered subscription left behind


def test_subscribe_refuses_unknown_scope(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name="refusing")["TopicArn"]
    _, arn = _queue(sqs, "refused")
    with pytest.raises(ClientError) as caught:
        _subscribe(sns, topic, arn, {"region": ["eu"]}, "MessageHeaders")
    assert _refusal(caught.value).startswith("Invalid parameter: FilterPolicyScope: ")
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_subscribe_with_a_bad_other_attribute_creates_nothing(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name="refusing")["TopicArn"]
    _, arn = _queue(sqs, "refused")
    with pytest.raises(ClientError):
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"FilterPolicy": '{"region": ["eu"]}', "NoSuchAttribute": "x"},
        )
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_set_attributes_refusal_keeps_the_old_policy(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name="updating")["TopicArn"]
    url, arn = _queue(sqs, "updating")
    sub = _subscribe(sns, topic, arn, {"color": ["red"]})

    with pytest.raises(ClientError) as caught:
        sns.set_subscription_attributes(
            SubscriptionArn=sub,
            AttributeName="FilterPolicy",
            AttributeValue=json.dumps({"color": []}),
        )
    assert _refusal(caught.value).startswith("Invalid parameter: FilterPolicy: ")
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert json.loads(attributes["FilterPolicy"]) == {"color": ["red"]}

    for color in ("red", "blue"):
        _publish(sns, topic, Message(color == "red", color, {"color": s(color)}))
    assert _drain(sqs, url) == ["red"]


def test_set_attributes_accepts_what_aws_accepts(sns: Any, sqs: Any) -> None:
    """A cidr policy (refused by stock moto) set after subscribing, then removed."""
    topic = sns.create_topic(Name="updating")["TopicArn"]
    url, arn = _queue(sqs, "updating")
    sub = _subscribe(sns, topic, arn, {"color": ["red"]})
    sns.set_subscription_attributes(
        SubscriptionArn=sub,
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"ip": [{"cidr": "192.168.0.0/16"}]}),
    )
    (stored,) = sns_backends["123456789012"]["us-east-1"].subscriptions.values()
    assert stored._filter_policy == {"ip": [{"cidr": "192.168.0.0/16"}]}
    assert stored._filter_policy_matcher is None  # moto's own matching never runs
    _publish(sns, topic, Message(True, "inside", {"ip": s("192.168.4.2")}))
    _publish(sns, topic, Message(False, "outside", {"ip": s("192.169.0.1")}))
    assert _drain(sqs, url) == ["inside"]

    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=""
    )
    _publish(sns, topic, Message(True, "unfiltered"))
    assert _drain(sqs, url) == ["unfiltered"]


def test_scope_change_checks_the_policy_again(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name="scoping")["TopicArn"]
    url, arn = _queue(sqs, "scoping")
    nested = {"order": {"state": ["placed"]}}
    sub = _subscribe(sns, topic, arn, nested, BODY)

    with pytest.raises(ClientError) as caught:
        sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="FilterPolicyScope", AttributeValue=ATTRS
        )
    assert "nested keys are allowed only in MessageBody scope" in _refusal(caught.value)
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attributes["FilterPolicyScope"] == BODY

    _publish(sns, topic, Message(True, {"order": {"state": "placed"}}))
    _publish(sns, topic, Message(False, {"order": {"state": "shipped"}}))
    assert _drain(sqs, url) == [json.dumps({"order": {"state": "placed"}})]

    # A flat policy can move scope; the new scope decides from then on.
    flat = json.dumps({"state": ["placed"]})
    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=flat
    )
    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="FilterPolicyScope", AttributeValue=ATTRS
    )
    _publish(sns, topic, Message(True, "attribute", {"state": s("placed")}))
    _publish(sns, topic, Message(False, {"state": "placed"}))
    assert _drain(sqs, url) == ["attribute"]


# --- Flowdash's services on top --------------------------------------------------------------


def test_backend_refusal_lands_on_the_filter_policy_field(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were Flowdash's own check to let a policy through, the backend's refusal names the
    field, and the subscription is not created."""
    topic = resources.topic_create(conn, name="orders")
    queue = resources.queue_create(conn, name="billing")
    monkeypatch.setattr(subscriptions, "filter_policy_validate", lambda policy, scope: policy)
    with pytest.raises(InvalidInput) as caught:
        subscriptions.subscription_create(
            conn,
            topic_arn=topic.arn,
            protocol="sqs",
            endpoint=queue.arn,
            filter_policy={"region": []},
        )
    assert caught.value.field == "filter_policy"
    assert caught.value.message.startswith("Invalid parameter: FilterPolicy: ")
    assert subscriptions.subscription_list(conn) == []


def test_update_moves_a_nested_body_policy_to_attributes(conn: Connection) -> None:
    topic = resources.topic_create(conn, name="orders")
    queue = resources.queue_create(conn, name="billing")
    sub = subscriptions.subscription_create(
        conn,
        topic_arn=topic.arn,
        protocol="sqs",
        endpoint=queue.arn,
        filter_policy={"order": {"state": ["placed"]}},
        filter_policy_scope=BODY,
    )
    moved = subscriptions.subscription_update(
        conn, arn=sub.arn, filter_policy={"state": ["placed"]}, filter_policy_scope=ATTRS
    )
    assert moved.filter_policy_scope == ATTRS
    back = subscriptions.subscription_update(
        conn, arn=sub.arn, filter_policy={"order": {"state": ["placed"]}}, filter_policy_scope=BODY
    )
    assert back.filter_policy_scope == BODY
    assert json.loads(back.filter_policy or "") == {"order": {"state": ["placed"]}}


# --- the decision itself ---------------------------------------------------------------------


class _Subscription:
    arn = "arn:aws:sns:us-east-1:123456789012:t:s"

    def __init__(self, policy: str | None, scope: str | None = None) -> None:
        self.attributes: dict[str, Any] = {}
        if policy is not None:
            self.attributes["FilterPolicy"] = policy
        if scope is not None:
            self.attributes["FilterPolicyScope"] = scope


def test_delivery_decide_reads_moto_attribute_shape() -> None:
    sub = _Subscription(json.dumps({"price": [{"numeric": [">", 100]}]}))
    over = filtering.delivery_decide(sub, "m", {"price": {"Type": "Number", "Value": "150"}})
    under = filtering.delivery_decide(sub, "m", {"price": {"Type": "Number", "Value": "50"}})
    assert over == FilterResult(True, None)
    assert under.matched is False and "price" in (under.reason or "")
    assert filtering.delivery_decide(_Subscription(None), "m", None) == FilterResult(True, None)


def test_delivery_decide_caches_the_parsed_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = filtering.filter_policy_validate

    def counting(policy: Any, *, scope: str) -> dict[str, Any]:
        calls.append(scope)
        return real(policy, scope=scope)

    monkeypatch.setattr(filtering, "filter_policy_validate", counting)
    sub = _Subscription(json.dumps({"a": ["b"]}), BODY)
    for _ in range(3):
        assert filtering.delivery_decide(sub, '{"a": "b"}', None).matched
    assert calls == [BODY]
    sub.attributes["FilterPolicy"] = json.dumps({"a": ["c"]})
    assert not filtering.delivery_decide(sub, '{"a": "b"}', None).matched
    assert calls == [BODY, BODY]


def test_delivery_decide_never_raises_on_a_policy_aws_refuses() -> None:
    sub = _Subscription(json.dumps({"region": []}))
    result = filtering.delivery_decide(sub, "m", {"region": {"Type": "String", "Value": "eu"}})
    assert result.matched is False
    assert "AWS refuses" in (result.reason or "")


# --- stock moto, so we notice an upstream fix ----------------------------------------------


def test_stock_moto_still_differs(sns: Any, sqs: Any, stock_moto: None) -> None:
    """When this fails, moto changed upstream: revisit ``filtering`` and FIELD-NOTES."""
    topic = sns.create_topic(Name="stock")["TopicArn"]
    _, arn = _queue(sqs, "stock")
    with pytest.raises(ClientError) as caught:
        _subscribe(sns, topic, arn, {"source_ip": [{"cidr": "10.0.0.0/24"}]})
    assert "Unrecognized match type cidr" in _refusal(caught.value)
    # ... and still leaves the refused subscription behind, unfiltered.
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1

    _, other = _queue(sqs, "stock-empty")
    _subscribe(sns, topic, other, {"region": []})  # accepted by moto, refused by AWS


def test_filtering_apply_is_idempotent_and_reversible() -> None:
    from moto.sns import models
    from moto.sns.utils import FilterPolicyMatcher

    assert filtering.filtering_apply()
    patched = models.Subscription.publish
    assert filtering.filtering_apply()
    assert models.Subscription.publish is patched
    filtering.filtering_revert()
    try:
        assert models.Subscription.publish is not patched
        assert models.FilterPolicyMatcher is FilterPolicyMatcher
        assert not filtering.filtering_active()
    finally:
        assert filtering.filtering_apply()
    assert filtering.filtering_active()
