"""The IAM policies in docs/ cover what Flowdash calls, and the read-only one changes nothing.

Two sources of "what Flowdash calls", because each misses what the other sees: the
code (every ``conn.sqs.<method>`` / ``conn.sns.<method>`` and paginator in messaging/
and dashboard/, mapped to API operations by botocore's own table), and the request
counter during a real run on moto (what the watcher, taps, workers and the services
actually sent). Operations map to IAM actions as AWS documents: the batch calls are
authorised by their single forms, and a create with tags also needs the tag action.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from messaging import publishing, resources, subscriptions
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.engine import FlowEngine
from messaging.events import FlowEmitter
from messaging.workers import WorkerSpec

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "docs" / "iam-full.json"
READ_ONLY = ROOT / "docs" / "iam-readonly.json"
#: IAM has no action of their own for these: the single form authorises them.
BATCH_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sns:PublishBatch": "sns:Publish",
}
#: Flowdash creates with tags, which AWS authorises as a second action.
IMPLIED = {"sqs:CreateQueue": "sqs:TagQueue", "sns:CreateTopic": "sns:TagResource"}
#: Attribute names on a client that are not AWS operations.
NOT_OPERATIONS = {"meta", "exceptions", "get_paginator", "can_paginate", "waiter_names"}
CALL = re.compile(r"\bconn(?:ection\(\))?\.(sqs|sns)\.([a-z_]+)")
PAGINATOR = re.compile(r"\bconn(?:ection\(\))?\.(sqs|sns)\.get_paginator\(\s*\"([a-z_]+)\"")
#: Verbs that only read (the read-only policy may hold nothing else).
READ_VERBS = ("Get", "List")


def policy_actions(path: Path) -> set[str]:
    document = json.loads(path.read_text())
    actions: set[str] = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def iam_actions(operations: set[str]) -> set[str]:
    """``service:Operation`` names to the IAM actions that authorise them."""
    actions = {BATCH_ACTIONS.get(op, op) for op in operations}
    return actions | {IMPLIED[op] for op in operations if op in IMPLIED}


def clients() -> dict[str, Any]:
    return {
        service: boto3.client(
            service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        for service in ("sqs", "sns")
    }


def operations_in_code() -> set[str]:
    """Every SNS/SQS operation named in messaging/ and dashboard/."""
    mapping = {s: c.meta.method_to_api_mapping for s, c in clients().items()}
    found: set[str] = set()
    for path in [
        *ROOT.joinpath("messaging").rglob("*.py"),
        *ROOT.joinpath("dashboard").rglob("*.py"),
    ]:
        text = path.read_text()
        for service, method in CALL.findall(text):
            if method in NOT_OPERATIONS:
                continue
            assert method in mapping[service], f"{path}: {service}.{method} is not an operation"
            found.add(f"{service}:{mapping[service][method]}")
        for service, method in PAGINATOR.findall(text):
            found.add(f"{service}:{mapping[service][method]}")
    return found


def counted(conn: Connection) -> set[str]:
    """What the connection's request counter saw, as ``service:Operation``."""
    return {key.replace(".", ":", 1) for key in conn.requests.snapshot()}


def test_every_operation_in_the_code_is_in_the_full_policy() -> None:
    operations = operations_in_code()
    # The scan finds the watcher's own calls, or it finds nothing at all.
    assert {"sns:ListTopics", "sqs:ListQueues", "sns:Subscribe", "sqs:ListQueueTags"} <= operations
    missing = iam_actions(operations) - policy_actions(FULL)
    assert not missing, f"docs/iam-full.json lacks {sorted(missing)}"


def test_the_read_only_policy_only_reads() -> None:
    actions = policy_actions(READ_ONLY)
    writes = sorted(a for a in actions if not a.split(":", 1)[1].startswith(READ_VERBS))
    assert not writes, f"docs/iam-readonly.json allows changes: {writes}"
    assert actions <= policy_actions(FULL)


def test_policies_are_scoped_to_the_default_prefix() -> None:
    from messaging.config import DEFAULT_AWS_PREFIX

    for path in (FULL, READ_ONLY):
        for statement in json.loads(path.read_text())["Statement"]:
            resource = statement["Resource"]
            if resource == "*":
                continue
            assert resource.endswith(f":{DEFAULT_AWS_PREFIX}*"), (path.name, resource)


async def _run_everything(conn: Connection) -> None:
    """One pass through what Flowdash does to an account, watched from outside."""
    engine = FlowEngine(
        conn, FlowEmitter(),
        watcher_options={"refresh_seconds": 0.5, "depth_fast": 0.2, "depth_slow": 1.0,
                         "tap_wait_seconds": 1, "attributes_seconds": 1.0},
    )  # fmt: skip
    topic = resources.topic_create(conn, name="iam-orders")
    queue = resources.queue_create(
        conn, name="iam-work", new_dead_letter_queue="iam-work-dlq", max_receive_count=2
    )
    sub = subscriptions.subscription_create(
        conn, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn
    )
    try:
        await engine.start()
        engine.workers_set(queue.arn, WorkerSpec(count=1, min_ms=0, max_ms=0, wait_seconds=1))
        publishing.topic_publish(conn, topic_arn=topic.arn, body="order 1")
        publishing.queue_send(conn, queue_url=queue.url, body="direct")
        subscriptions.subscription_update(conn, arn=sub.arn, filter_policy={"kind": ["order"]})
        resources.queue_update(conn, url=queue.url, visibility_timeout=5)
        await asyncio.sleep(2.5)  # listings, samples, full attribute reads, worker polls
        subscriptions.subscription_delete(conn, arn=sub.arn)
        resources.queue_purge(conn, url=queue.url)
        resources.topic_delete(conn, arn=topic.arn)  # its tap goes too
        await asyncio.sleep(1.5)
    finally:
        await engine.stop()


async def test_a_run_calls_only_what_the_full_policy_allows(moto_url: str) -> None:
    conn = Connection(BackendConfig(observer="outside"), endpoint_url=moto_url)
    await _run_everything(conn)
    seen = counted(conn)
    # The run went through the tap's whole life and the workers' receive and delete.
    lifecycle = {"sqs:CreateQueue", "sns:Subscribe", "sns:Unsubscribe", "sqs:DeleteQueue",
                 "sqs:ReceiveMessage", "sqs:DeleteMessage", "sns:ListSubscriptions"}  # fmt: skip
    assert lifecycle <= iam_actions(seen), sorted(lifecycle - iam_actions(seen))
    missing = iam_actions(seen) - policy_actions(FULL)
    assert not missing, f"docs/iam-full.json lacks {sorted(missing)} (seen: {sorted(seen)})"


async def test_a_read_only_watch_calls_only_the_read_only_policy(moto_url: str) -> None:
    writer = Connection(BackendConfig(observer="outside"), endpoint_url=moto_url)
    topic = resources.topic_create(writer, name="ro-topic")
    queue = resources.queue_create(writer, name="ro-queue", new_dead_letter_queue="ro-dlq")
    subscriptions.subscription_create(
        writer, topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn
    )
    reader = Connection(replace(writer.config, read_only=True), endpoint_url=moto_url)
    engine = FlowEngine(
        reader, FlowEmitter(),
        watcher_options={"refresh_seconds": 0.5, "depth_fast": 0.2, "depth_slow": 1.0,
                         "attributes_seconds": 1.0},
    )  # fmt: skip
    try:
        await engine.start()
        publishing.queue_send(writer, queue_url=queue.url, body="seen as depth")
        await asyncio.sleep(3)
    finally:
        await engine.stop()
    seen = counted(reader)
    assert {"sns:ListTopics", "sqs:ListQueues", "sqs:GetQueueAttributes"} <= seen, seen
    extra = iam_actions(seen) - policy_actions(READ_ONLY)
    assert not extra, f"read-only Flowdash called {sorted(extra)}, not in docs/iam-readonly.json"


@pytest.mark.parametrize("path", [FULL, READ_ONLY], ids=lambda p: p.name)
def test_every_action_is_a_real_operation(path: Path) -> None:
    """A misspelt action would silently allow nothing."""
    operations = {
        f"{s}:{op}" for s, c in clients().items() for op in c.meta.method_to_api_mapping.values()
    }
    known = operations | set(BATCH_ACTIONS.values()) | set(IMPLIED.values())
    assert policy_actions(path) <= known, sorted(policy_actions(path) - known)
