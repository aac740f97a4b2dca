"""Flowdash's filter-policy evaluator against AWS's documented examples, and against moto.

Every case in ``CASES`` is an example from the SNS developer guide (string, numeric, key
and IP matching, AND/OR logic, payload-based filtering) or from AWS's payload-filtering
blog post. Each runs twice: once through ``filter_policy_evaluate`` (what AWS would do)
and once through a real moto server with moto's own filtering (``stock_moto``). Where the
shared FIELD-NOTES record that moto 5.2.5 diverges from AWS, the case says
``moto_differs=True`` and the test asserts that moto still differs, so a moto upgrade
that fixes one of its bugs fails here and tells us to update the table. The embedded
backend filters with AWS's rules instead (``messaging.embedded.filtering``; its tests,
these cases included, are in test_embedded_filtering.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from messaging.connection import Connection
from messaging.embedded import filtering
from messaging.errors import InvalidInput
from messaging.filter_policy import (
    FilterResult,
    filter_policy_evaluate,
    filter_policy_validate,
)

ATTRS = "MessageAttributes"
BODY = "MessageBody"


def s(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def n(value: str) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": value}


def a(*values: str) -> dict[str, str]:
    return {"DataType": "String.Array", "StringValue": json.dumps(list(values))}


@dataclass(frozen=True)
class Case:
    id: str
    policy: dict[str, Any]
    matched: bool
    attributes: dict[str, dict[str, str]] | None = None
    body: Any = None  # a dict or list is sent as JSON, a str as it is
    scope: str = ATTRS
    #: For a rejected message: the key the reason must name.
    reason_key: str | None = None
    #: FIELD-NOTES record that moto 5.2.5 delivers differently (or errors) here.
    moto_differs: bool = False

    @property
    def body_text(self) -> str:
        if self.body is None:
            return "message-body"
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


# The example message of "Amazon SNS example filter policies".
DOCS_MESSAGE = {
    "customer_interests": a("soccer", "rugby", "hockey"),
    "store": s("example_corp"),
    "event": s("order_placed"),
    "price_usd": n("210.75"),
}
INTERESTS = {"customer_interests": ["rugby", "tennis"]}
NOT_RUGBY_TENNIS = {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}
NOT_100_500 = {"price": [{"anything-but": [100, 500]}]}
NOT_ORDER_PREFIX = {"event": [{"anything-but": {"prefix": "order-"}}]}
PREFIX_BAS = {"customer_interests": [{"prefix": "bas"}]}
SUFFIX_BALL = {"customer_interests": [{"suffix": "ball"}]}
IGNORE_CASE = {"customer_interests": [{"equals-ignore-case": "tennis"}]}
PRICE_EQUALS = {"price_usd": [{"numeric": ["=", 301.5]}]}
NEGATIVE = {"price_usd": [{"numeric": ["<", 0]}]}
UP_TO_150 = {"price_usd": [{"numeric": [">", 0, "<=", 150]}]}
STORE_EXISTS = {"store": [{"exists": True}]}
STORE_ABSENT = {"store": [{"exists": False}]}
BASEBALL_FANS = {"customer_interests": a("baseball", "basketball")}
NOT_LISTED_OR_ABSENT = {
    "customer_interests": [{"anything-but": ["rugby", "tennis"]}, {"exists": False}]
}
CIDR = {"source_ip": [{"cidr": "10.0.0.0/24"}]}
RUGBY_OVER_100 = {"customer_interests": ["rugby"], "price_usd": [{"numeric": [">", 100]}]}
STANDARD_OR = {
    "source": ["aws.cloudwatch"],
    "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
}
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
AUTO_OBJECTS = {
    "object": {"key": [{"prefix": "auto-"}, "hardcodedvalue"], "nested_key": [{"exists": False}]},
    "test": [{"exists": False}],
}
S3_AUTO_CREATED = {
    "Records": {
        "s3": {"object": {"key": [{"prefix": "auto-"}]}},
        "eventName": [{"prefix": "ObjectCreated:"}],
    }
}


def s3_event(key: str, event_name: str) -> dict[str, Any]:
    record = {"eventSource": "aws:s3", "eventName": event_name, "s3": {"object": {"key": key}}}
    return {"Records": [record]}


CASES: list[Case] = [
    # Example filter policies: the policy that accepts the example message and the one that doesn't.
    Case(
        "docs-policy-accepts",
        {
            "store": ["example_corp"],
            "event": [{"anything-but": "order_cancelled"}],
            "customer_interests": ["rugby", "football", "baseball"],
            "price_usd": [{"numeric": [">=", 100]}],
        },
        True,
        DOCS_MESSAGE,
    ),
    Case(
        "docs-policy-rejects",
        {
            "store": ["example_corp"],
            "event": ["order_cancelled"],
            "encrypted": [False],
            "customer_interests": ["basketball", "baseball"],
        },
        False,
        DOCS_MESSAGE,
        reason_key="event",
    ),
    # String value matching: exact.
    Case("exact-rugby", INTERESTS, True, {"customer_interests": s("rugby")}),
    Case("exact-tennis", INTERESTS, True, {"customer_interests": s("tennis")}),
    Case(
        "exact-baseball",
        INTERESTS,
        False,
        {"customer_interests": s("baseball")},
        reason_key="customer_interests",
    ),
    Case("exact-string-array", INTERESTS, True, {"customer_interests": a("rugby", "tennis")}),
    Case(
        "exact-string-array-baseball",
        INTERESTS,
        False,
        {"customer_interests": a("baseball")},
        reason_key="customer_interests",
    ),
    # String value matching: anything-but.
    Case("anything-but-baseball", NOT_RUGBY_TENNIS, True, {"customer_interests": s("baseball")}),
    Case("anything-but-football", NOT_RUGBY_TENNIS, True, {"customer_interests": s("football")}),
    Case(
        "anything-but-rugby",
        NOT_RUGBY_TENNIS,
        False,
        {"customer_interests": s("rugby")},
        reason_key="customer_interests",
    ),
    # Current docs: for String.Array, anything-but matches only if no element is listed.
    # moto compares the characters of the raw JSON text instead, so it delivers.
    Case(
        "anything-but-string-array",
        NOT_RUGBY_TENNIS,
        False,
        {"customer_interests": a("rugby", "baseball")},
        reason_key="customer_interests",
        moto_differs=True,
    ),
    # Numeric value matching: anything-but.
    Case("anything-but-101", NOT_100_500, True, {"price": n("101")}),
    Case("anything-but-100.1", NOT_100_500, True, {"price": n("100.1")}),
    Case("anything-but-100", NOT_100_500, False, {"price": n("100")}, reason_key="price"),
    # Using a prefix with the anything-but operator.
    Case("anything-but-prefix-data-entry", NOT_ORDER_PREFIX, True, {"event": s("data-entry")}),
    Case("anything-but-prefix-order_number", NOT_ORDER_PREFIX, True, {"event": s("order_number")}),
    Case(
        "anything-but-prefix-order-cancelled",
        NOT_ORDER_PREFIX,
        False,
        {"event": s("order-cancelled")},
        reason_key="event",
    ),
    # Prefix and suffix matching.
    Case("prefix-baseball", PREFIX_BAS, True, {"customer_interests": s("baseball")}),
    Case("prefix-basketball", PREFIX_BAS, True, {"customer_interests": s("basketball")}),
    Case(
        "prefix-rugby",
        PREFIX_BAS,
        False,
        {"customer_interests": s("rugby")},
        reason_key="customer_interests",
    ),
    # moto never applies prefix/suffix to String.Array elements.
    Case(
        "prefix-string-array",
        PREFIX_BAS,
        True,
        {"customer_interests": a("rugby", "basketball")},
        moto_differs=True,
    ),
    Case("suffix-baseball", SUFFIX_BALL, True, {"customer_interests": s("baseball")}),
    Case(
        "suffix-rugby",
        SUFFIX_BALL,
        False,
        {"customer_interests": s("rugby")},
        reason_key="customer_interests",
    ),
    Case(
        "suffix-string-array",
        SUFFIX_BALL,
        True,
        {"customer_interests": a("rugby", "football")},
        moto_differs=True,
    ),
    # Equals-ignore-case matching.
    Case("ignore-case-TENNIS", IGNORE_CASE, True, {"customer_interests": s("TENNIS")}),
    Case("ignore-case-Tennis", IGNORE_CASE, True, {"customer_interests": s("Tennis")}),
    Case(
        "ignore-case-baseball",
        IGNORE_CASE,
        False,
        {"customer_interests": s("baseball")},
        reason_key="customer_interests",
    ),
    # Numeric value matching: exact and range.
    Case("numeric-equals", PRICE_EQUALS, True, {"price_usd": n("301.5")}),
    Case("numeric-equals-exponent", PRICE_EQUALS, True, {"price_usd": n("3.015e2")}),
    Case("numeric-negative", NEGATIVE, True, {"price_usd": n("-1")}),
    Case("numeric-positive", NEGATIVE, False, {"price_usd": n("5")}, reason_key="price_usd"),
    Case("numeric-range-150", UP_TO_150, True, {"price_usd": n("150")}),
    Case("numeric-range-151", UP_TO_150, False, {"price_usd": n("151")}, reason_key="price_usd"),
    Case("numeric-range-0", UP_TO_150, False, {"price_usd": n("0")}, reason_key="price_usd"),
    # Key matching.
    Case("exists-true", STORE_EXISTS, True, {"store": s("fans"), **BASEBALL_FANS}),
    Case("exists-true-missing", STORE_EXISTS, False, BASEBALL_FANS, reason_key="store"),
    Case("exists-false", STORE_ABSENT, True, BASEBALL_FANS),
    Case(
        "exists-false-present",
        STORE_ABSENT,
        False,
        {"store": s("fans"), **BASEBALL_FANS},
        reason_key="store",
    ),
    # AWS: "exists": false only matches if at least one attribute is present; moto matches.
    Case(
        "exists-false-no-attributes",
        STORE_ABSENT,
        False,
        reason_key="store",
        moto_differs=True,
    ),
    # "anything-but can be combined with exists: false"; moto stops at the missing key.
    Case(
        "anything-but-or-absent",
        NOT_LISTED_OR_ABSENT,
        True,
        {"store": s("fans")},
        moto_differs=True,
    ),
    Case(
        "anything-but-or-absent-rugby",
        NOT_LISTED_OR_ABSENT,
        False,
        {"customer_interests": s("rugby")},
        reason_key="customer_interests",
    ),
    # IP address matching: moto rejects cidr policies as an unknown match type.
    Case("cidr-10.0.0.255", CIDR, True, {"source_ip": s("10.0.0.255")}, moto_differs=True),
    Case(
        "cidr-10.1.1.0",
        CIDR,
        False,
        {"source_ip": s("10.1.1.0")},
        reason_key="source_ip",
        moto_differs=True,
    ),
    Case(
        "cidr-ipv6",
        {"source_ip": [{"cidr": "2001:db8::/32"}]},
        True,
        {"source_ip": s("2001:db8::1")},
        moto_differs=True,
    ),
    # AND/OR logic.
    Case(
        "and-both",
        RUGBY_OVER_100,
        True,
        {"customer_interests": s("rugby"), "price_usd": n("150")},
    ),
    Case(
        "and-price-too-low",
        RUGBY_OVER_100,
        False,
        {"customer_interests": s("rugby"), "price_usd": n("50")},
        reason_key="price_usd",
    ),
    Case(
        "or-metric-name",
        STANDARD_OR,
        True,
        {"source": s("aws.cloudwatch"), "metricName": s("CPUUtilization")},
    ),
    Case(
        "or-namespace",
        STANDARD_OR,
        True,
        {"source": s("aws.cloudwatch"), "namespace": s("AWS/EC2")},
    ),
    Case("or-neither", STANDARD_OR, False, {"source": s("aws.cloudwatch")}, reason_key="$or"),
    # AWS's own nested $or example (7 combinations); moto rejects it as too complex.
    Case(
        "or-nested",
        NESTED_OR,
        True,
        {"source": s("aws.cloudwatch"), "metricType": s("MetricType"), "spaceId": n("2000")},
        moto_differs=True,
    ),
    # Message body (payload-based) filtering.
    Case("body-exact", INTERESTS, True, body={"customer_interests": "rugby"}, scope=BODY),
    Case(
        "body-exact-baseball",
        INTERESTS,
        False,
        body={"customer_interests": "baseball"},
        scope=BODY,
        reason_key="customer_interests",
    ),
    # Docs: matches "because it contains a value that isn't rugby or tennis"; moto doesn't.
    Case(
        "body-anything-but-array",
        NOT_RUGBY_TENNIS,
        True,
        body={"customer_interests": ["rugby", "baseball"]},
        scope=BODY,
        moto_differs=True,
    ),
    Case("body-ignore-case", IGNORE_CASE, True, body={"customer_interests": "Tennis"}, scope=BODY),
    Case("body-prefix", PREFIX_BAS, True, body={"customer_interests": "basketball"}, scope=BODY),
    Case("body-numeric", PRICE_EQUALS, True, body={"price_usd": 3.015e2}, scope=BODY),
    # A numeric condition meeting a body array or a quoted number: moto's Publish fails (500).
    Case(
        "body-numeric-array",
        {"price": [{"numeric": [">", 100]}]},
        True,
        body={"price": [5, 200]},
        scope=BODY,
        moto_differs=True,
    ),
    Case(
        "body-numeric-quoted",
        {"price": [{"numeric": [">", 100]}]},
        False,
        body={"price": "150"},
        scope=BODY,
        reason_key="price",
        moto_differs=True,
    ),
    Case("body-exists", STORE_EXISTS, True, body={"store": "fans"}, scope=BODY),
    Case(
        "body-exists-missing",
        STORE_EXISTS,
        False,
        body={"customer_interests": ["baseball", "basketball"]},
        scope=BODY,
        reason_key="store",
    ),
    # AWS: exists: true needs a non-null leaf value; moto matches null.
    Case(
        "body-exists-null",
        STORE_EXISTS,
        False,
        body={"store": None},
        scope=BODY,
        reason_key="store",
        moto_differs=True,
    ),
    Case(
        "body-nested-prefix", AUTO_OBJECTS, True, body={"object": {"key": "auto-test"}}, scope=BODY
    ),
    Case(
        "body-nested-value",
        AUTO_OBJECTS,
        True,
        body={"object": {"key": "hardcodedvalue"}},
        scope=BODY,
    ),
    Case(
        "body-nested-wrong-prefix",
        AUTO_OBJECTS,
        False,
        body={"object": {"key": "test-auto"}},
        scope=BODY,
        reason_key="object.key",
    ),
    Case(
        "body-nested-must-be-absent",
        AUTO_OBJECTS,
        False,
        body={"object": {"key": "auto-test"}, "test": "just-exists"},
        scope=BODY,
        reason_key="test",
    ),
    Case(
        "body-nested-missing",
        AUTO_OBJECTS,
        False,
        body={"object": {"test": "auto-test"}},
        scope=BODY,
        reason_key="object.key",
    ),
    Case(
        "body-s3-auto-created",
        S3_AUTO_CREATED,
        True,
        body=s3_event("auto-insurance-2314.xml", "ObjectCreated:Put"),
        scope=BODY,
    ),
    Case(
        "body-s3-auto-removed",
        S3_AUTO_CREATED,
        False,
        body=s3_event("auto-insurance-2314.xml", "ObjectRemoved:Delete"),
        scope=BODY,
        reason_key="Records.eventName",
    ),
    Case(
        "body-s3-home-created",
        S3_AUTO_CREATED,
        False,
        body=s3_event("home-insurance-2314.xml", "ObjectCreated:Put"),
        scope=BODY,
        reason_key="Records.s3.object.key",
    ),
    Case(
        "body-array-of-values",
        {"headers": {"route-to": ["queue1"]}},
        True,
        body={"headers": {"route-to": ["queue1", "queue2"]}},
        scope=BODY,
    ),
    # $or in MessageBody scope: AWS matches; moto's Publish fails with HTTP 500.
    Case(
        "body-or",
        STANDARD_OR,
        True,
        body={"source": "aws.cloudwatch", "namespace": "AWS/EC2"},
        scope=BODY,
        moto_differs=True,
    ),
    Case(
        "body-not-json",
        INTERESTS,
        False,
        body="Regular string message",
        scope=BODY,
        reason_key="body",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_evaluate_follows_aws_docs(case: Case) -> None:
    result = filter_policy_evaluate(
        case.policy,
        scope=case.scope,
        message_attributes=case.attributes,
        body=case.body_text,
    )

    assert result.matched is case.matched, result.reason
    if case.matched:
        assert result.reason is None
    else:
        assert case.reason_key is not None, "a rejected case must say which key the reason names"
        assert result.reason is not None
        assert case.reason_key in result.reason


@pytest.fixture
def stock_moto() -> Iterator[list[Exception]]:
    """moto's own filter rules for one test; AWS's again after (the embedded default).

    Yields the errors moto's delivery raised: stock moto fails the whole Publish with
    them (HTTP 500), but the embedded broker reports them per copy and answers 200.
    """
    from moto.sns.models import Subscription

    filtering.filtering_revert()
    stock = Subscription.__dict__["publish"]
    failures: list[Exception] = []

    def publish(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return stock(self, *args, **kwargs)
        except Exception as exc:
            failures.append(exc)
            raise

    Subscription.publish = publish  # type: ignore[method-assign]
    try:
        yield failures
    finally:
        Subscription.publish = stock  # type: ignore[method-assign]
        assert filtering.filtering_apply()


def _moto_delivers(conn: Connection, case: Case, failures: list[Exception]) -> bool | None:
    """Subscribe a queue with the policy, publish once, and report whether moto delivered.

    None means moto refused the policy or failed the publish (or the copy's delivery):
    that differs from AWS, which would have answered either way. moto's HTTP 500 is an
    HTML page, which botocore reports as a ResponseParserError rather than a ClientError.
    """
    topic_arn = conn.sns.create_topic(Name="filter-policy")["TopicArn"]
    queue_url = conn.sqs.create_queue(QueueName="filter-policy")["QueueUrl"]
    queue_arn = conn.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    try:
        conn.sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={
                "FilterPolicy": json.dumps(case.policy),
                "FilterPolicyScope": case.scope,
                "RawMessageDelivery": "true",
            },
        )
        publish: dict[str, Any] = {"TopicArn": topic_arn, "Message": case.body_text}
        if case.attributes:
            publish["MessageAttributes"] = case.attributes
        conn.sns.publish(**publish)
    except (ClientError, ResponseParserError):
        return None
    if failures:
        return None
    # moto delivers inside Publish; a second receive only guards against a slow fan-out.
    for _ in range(2):
        received = conn.sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
        if received.get("Messages"):
            return True
    return False


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_moto_delivery_matches_or_differs_as_recorded(
    conn: Connection, stock_moto: list[Exception], case: Case
) -> None:
    delivered = _moto_delivers(conn, case, stock_moto)

    if case.moto_differs:
        assert delivered is not case.matched, (
            f"moto now agrees with AWS on {case.id!r} (delivered={delivered}): "
            "set moto_differs=False for this case and update FIELD-NOTES"
        )
    else:
        assert delivered is case.matched, f"moto delivered={delivered}, AWS would: {case.matched}"


# --- validation ---------------------------------------------------------------------------

SIX_KEYS = {f"key{i}": [f"value{i}"] for i in range(1, 7)}
FIELD_NOTES_REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("empty-array", {"region": []}, "Filter policy key 'region' has an empty array"),
    (
        "two-operators",
        {"region": [{"prefix": "eu", "suffix": "1"}]},
        "Operator object for key 'region' has 2 keys (prefix, suffix); "
        "AWS allows exactly one operator per object",
    ),
    (
        "numeric-extra-terms",
        {"price": [{"numeric": [">", 20, "<", 30, "<", 50]}]},
        "numeric for key 'price' has 6 terms",
    ),
    (
        "prefix-number",
        {"region": [{"prefix": 100}]},
        "prefix for key 'region' must be a string, not a number",
    ),
    (
        "suffix-null",
        {"region": [{"suffix": None}]},
        "suffix for key 'region' must be a string, not null",
    ),
    (
        "equals-ignore-case-list",
        {"region": [{"equals-ignore-case": ["eu"]}]},
        "equals-ignore-case for key 'region' must be a string, not an array",
    ),
    (
        "anything-but-prefix-false",
        {"region": [{"anything-but": {"prefix": False}}]},
        "anything-but prefix for key 'region' must be a string, not false",
    ),
    (
        "anything-but-exists",
        {"region": [{"anything-but": {"exists": False}}]},
        "anything-but for key 'region' cannot hold exists",
    ),
]
OTHER_REJECTED: list[tuple[str, str | dict[str, Any], str, str]] = [
    (
        "not-json",
        '{"region": ["eu" "us"]}',
        ATTRS,
        "Filter policy is not valid JSON: Expecting ',' delimiter at line 1 column 18",
    ),
    ("not-an-object", '["eu-west"]', ATTRS, "Filter policy must be a JSON object, not an array"),
    ("six-keys", SIX_KEYS, ATTRS, "Filter policy has 6 top-level keys; AWS allows at most 5"),
    (
        "six-keys-in-or-alternative",
        {
            **{f"key{i}": ["x"] for i in range(1, 5)},
            "$or": [{"a": ["x"], "b": ["x"]}, {"c": ["x"]}],
        },
        ATTRS,
        "Filter policy has 6 top-level keys in its largest $or alternative; AWS allows at most 5",
    ),
    (
        "200-combinations",
        {"region": [f"r{i}" for i in range(20)], "tier": [f"t{i}" for i in range(10)]},
        ATTRS,
        "Filter policy allows 200 combinations of values; AWS allows at most 150",
    ),
    (
        # (source * metricName) + (source * metricType * metricId) + (... * spaceId)
        # = 4*6 + 4*4*4 + 4*4*4 = 152, as AWS counts it.
        "or-152-combinations",
        {
            "source": ["aws.cloudwatch", "aws.events", "aws.test", "aws.test2"],
            "$or": [
                {"metricName": ["CPUUtilization", "ReadLatency", "t1", "t2", "t3", "t4"]},
                {
                    "metricType": ["MetricType", "TestType", "TestType2", "TestType3"],
                    "$or": [{"metricId": [1234, 4321, 5678, 9012]}, {"spaceId": [1, 2, 3, 4]}],
                },
            ],
        },
        ATTRS,
        "Filter policy allows 152 combinations of values",
    ),
    (
        # Nested keys count their depth: 3x4 (key_c) x 2x3 (key_e) x 1x3 (key_f) = 216.
        "nested-216-combinations",
        {
            "key_a": {"key_b": {"key_c": ["v1", "v2", "v3", "v4"]}},
            "key_d": {"key_e": ["v1", "v2", "v3"]},
            "key_f": ["v1", "v2", "v3"],
        },
        BODY,
        "Filter policy allows 216 combinations of values",
    ),
    (
        "unknown-operator",
        {"region": [{"prefixx": "eu"}]},
        ATTRS,
        "Unknown operator 'prefixx' for key 'region'",
    ),
    (
        "nested-in-attribute-scope",
        {"object": {"key": [{"prefix": "auto-"}]}},
        ATTRS,
        "Filter policy key 'object' holds a nested object; "
        "nested keys are allowed only in MessageBody scope",
    ),
    (
        "value-not-in-array",
        {"key_a": "value_one"},
        BODY,
        "Filter policy key 'key_a' must hold an array of values or a nested object, not a string",
    ),
    (
        "array-in-array",
        {"key": [["value"]]},
        ATTRS,
        "Values for key 'key' must be strings, numbers, true, false, null or operator objects",
    ),
    (
        "numeric-range-reversed",
        {"price": [{"numeric": ["<", 100, ">", 10]}]},
        ATTRS,
        "numeric range for key 'price' must be a lower bound (> or >=) then an upper bound",
    ),
    (
        "numeric-range-empty",
        {"price": [{"numeric": [">", 3, "<", 1]}]},
        ATTRS,
        "numeric range for key 'price' is empty: lower bound 3 is not below upper bound 1",
    ),
    (
        "numeric-string-operand",
        {"price": [{"numeric": ["=", "000"]}]},
        ATTRS,
        "numeric operator '=' for key 'price' needs a number after it, not a string",
    ),
    (
        "numeric-missing-operand",
        {"price": [{"numeric": [">="]}]},
        ATTRS,
        "numeric operator '>=' for key 'price' needs a number after it, not nothing",
    ),
    (
        "numeric-unknown-operator",
        {"price": [{"numeric": ["operator"]}]},
        ATTRS,
        "Unknown numeric operator 'operator' for key 'price'",
    ),
    (
        "numeric-out-of-range",
        {"price": [{"numeric": [">", 2_000_000_000]}]},
        ATTRS,
        "Number 2000000000 for key 'price' is outside AWS's range",
    ),
    (
        # AWS answers "Unsupported anything-but pattern: suffix".
        "anything-but-suffix",
        {"region": [{"anything-but": {"suffix": "-1"}}]},
        ATTRS,
        "anything-but for key 'region' cannot hold suffix",
    ),
    (
        "anything-but-mixed-list",
        {"region": [{"anything-but": ["eu", 1]}]},
        ATTRS,
        "only strings or only numbers",
    ),
    (
        "exists-string",
        {"region": [{"exists": "no"}]},
        ATTRS,
        "exists for key 'region' must be true or false, not a string",
    ),
    (
        "cidr-without-mask",
        {"source_ip": [{"cidr": "10.0.0.1"}]},
        ATTRS,
        "cidr for key 'source_ip' must use CIDR notation",
    ),
    (
        "cidr-bad-address",
        {"source_ip": [{"cidr": "10.0.0.256/24"}]},
        ATTRS,
        "cidr for key 'source_ip' is not a valid IP network",
    ),
    (
        "too-large",
        {"region": ["x" * (256 * 1024)]},
        ATTRS,
        "bytes; AWS allows at most 256 KB",
    ),
]


@pytest.mark.parametrize(
    ("policy", "message"),
    [(policy, message) for _, policy, message in FIELD_NOTES_REJECTED],
    ids=[case_id for case_id, _, _ in FIELD_NOTES_REJECTED],
)
def test_validate_rejects_what_aws_rejects_and_moto_accepts(
    conn: Connection, stock_moto: list[Exception], policy: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        filter_policy_validate(policy)
    assert message in caught.value.message
    assert caught.value.field == "filter_policy"

    # moto 5.2.5 takes the same policy: once it refuses, drop the case from FIELD-NOTES.
    topic_arn = conn.sns.create_topic(Name="filter-policy")["TopicArn"]
    queue_url = conn.sqs.create_queue(QueueName="filter-policy")["QueueUrl"]
    queue_arn = conn.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    conn.sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps(policy)},
    )


@pytest.mark.parametrize(
    ("policy", "scope", "message"),
    [(policy, scope, message) for _, policy, scope, message in OTHER_REJECTED],
    ids=[case_id for case_id, _, _, _ in OTHER_REJECTED],
)
def test_validate_rejects(policy: str | dict[str, Any], scope: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        filter_policy_validate(policy, scope=scope)
    assert message in caught.value.message
    assert caught.value.field == "filter_policy"


def test_validate_rejects_unknown_scope() -> None:
    with pytest.raises(InvalidInput) as caught:
        filter_policy_validate({"region": ["eu"]}, scope="MessageHeaders")
    assert caught.value.message == (
        "scope must be MessageAttributes or MessageBody, not 'MessageHeaders'"
    )
    assert caught.value.field == "filter_policy_scope"


@pytest.mark.parametrize(
    ("policy", "scope"),
    [
        (NESTED_OR, ATTRS),
        (AUTO_OBJECTS, BODY),
        # The docs' nested example: 3x4 + 2x3 gives 72 combinations.
        (
            {
                "key_a": {"key_b": {"key_c": ["v1", "v2", "v3", "v4"]}},
                "key_d": {"key_e": ["v1", "v2", "v3"]},
            },
            BODY,
        ),
        # Exactly 150: 3*6 + 3*4*4 + 3*4*7.
        (
            {
                "source": ["a", "b", "c"],
                "$or": [
                    {"metricName": ["m1", "m2", "m3", "m4", "m5", "m6"]},
                    {
                        "metricType": ["t1", "t2", "t3", "t4"],
                        "$or": [{"metricId": [1, 2, 3, 4]}, {"spaceId": [1, 2, 3, 4, 5, 6, 7]}],
                    },
                ],
            },
            ATTRS,
        ),
        ({f"key{i}": [f"value{i}"] for i in range(1, 6)}, ATTRS),
        # Only top-level keys count in MessageBody scope.
        ({"finding": {f"key{i}": ["x"] for i in range(1, 7)}}, BODY),
        (CIDR, ATTRS),
        ({}, ATTRS),
    ],
    ids=[
        "nested-or-7",
        "nested-body",
        "nested-72",
        "or-150",
        "five-keys",
        "body-nested-keys-uncounted",
        "cidr",
        "empty",
    ],
)
def test_validate_accepts_aws_examples(policy: dict[str, Any], scope: str) -> None:
    assert filter_policy_validate(json.dumps(policy), scope=scope) == policy
    assert filter_policy_validate(policy, scope=scope) == policy


def test_reasons_read_as_sentences() -> None:
    regions = {"region": ["eu-west", "eu-central"]}
    assert filter_policy_evaluate(
        regions, message_attributes={"region": s("us-west")}
    ) == FilterResult(False, "region: 'us-west' is not one of ['eu-west', 'eu-central']")
    assert filter_policy_evaluate(
        {"amount": [{"numeric": [">=", 100]}]}, message_attributes={"amount": n("50")}
    ) == FilterResult(False, "amount: 50 is not >= 100")
    assert filter_policy_evaluate(
        {"customer_tier": ["gold"]}, message_attributes={"region": s("eu-west")}
    ) == FilterResult(False, "customer_tier: attribute missing")
    assert filter_policy_evaluate(
        STANDARD_OR, message_attributes={"source": s("aws.cloudwatch")}
    ) == FilterResult(
        False,
        "$or: no alternative matched: (1) metricName: attribute missing; "
        "(2) namespace: attribute missing",
    )


def test_envelope_attribute_shape_gives_the_same_answer() -> None:
    """SNS envelopes carry Type/Value; Publish takes DataType/StringValue."""
    envelope = {
        name: {"Type": attribute["DataType"], "Value": attribute["StringValue"]}
        for name, attribute in DOCS_MESSAGE.items()
    }
    for case in CASES[:2]:
        assert filter_policy_evaluate(case.policy, message_attributes=envelope) == (
            filter_policy_evaluate(case.policy, message_attributes=DOCS_MESSAGE)
        )


def test_binary_attributes_are_ignored() -> None:
    binary = {"store": {"DataType": "Binary", "BinaryValue": "ZmFucw=="}}
    assert not filter_policy_evaluate(STORE_EXISTS, message_attributes=binary).matched
    # Ignored for matching, but the message still has an attribute for exists: false.
    assert filter_policy_evaluate(STORE_ABSENT, message_attributes=binary).matched
