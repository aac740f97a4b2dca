"""A FIFO topic's content-based deduplication reaches its FIFO queues (embedded backend).

SNS computes a FIFO topic's content-based deduplication id (SHA-256 of the body) and
passes it on with each copy, so a subscribed FIFO queue needs no deduplication setting
of its own. moto 5.2.5 passed none, and such a queue refused every copy
(``InvalidParameterValue``), silently for the publisher; found by the backend contract
suite (tests/backends), where LocalStack delivered them.
"""

from __future__ import annotations

import boto3


def test_fifo_topic_deduplicates_into_a_queue_without_its_own_setting(moto_url: str) -> None:
    options = {
        "endpoint_url": moto_url, "region_name": "us-east-1",
        "aws_access_key_id": "someone", "aws_secret_access_key": "else",
    }  # fmt: skip
    sns, sqs = boto3.client("sns", **options), boto3.client("sqs", **options)
    topic = sns.create_topic(
        Name="orders.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"}
    )["TopicArn"]
    url = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    for body in ("first", "first", "second"):  # the repeat is a duplicate: dropped
        sns.publish(TopicArn=topic, Message=body, MessageGroupId="g")

    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    ).get("Messages", [])
    assert ['"first"' in m["Body"] for m in got] == [True, False], got
    assert len(got) == 2, got
    dedup = got[0]["Attributes"]["MessageDeduplicationId"]
    assert dedup == "a7937b64b8caa58f03721bb6bacf5c78cb235febe0e70b1b84cd99541461a08e", dedup
