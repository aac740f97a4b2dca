"""The embedded backend keeps its state across restarts (messaging/embedded/persistence.py).

In process: an EmbeddedServer with a state file, resources and messages made with plain
boto3, stop, moto reset (its models are process-wide), a new server restoring from the
file, and boto3 again. Across processes: ``manage.py serve`` stopped with Ctrl-C, and
one killed with SIGKILL a few seconds after the changes, then started on the same var
directory.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from messaging import resources
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.embedded import EmbeddedServer
from messaging.embedded.contents import moto_sns_outbox
from messaging.embedded.persistence import STATE_FILE_NAME
from messaging.inspection import queue_inspect
from tests.live import flowdash_served

ACCOUNT = "123456789012"
FILTER = {"kind": ["new"], "size": [{"numeric": [">", 10]}]}


def clients(url: str) -> tuple[Any, Any]:
    kwargs = dict(
        endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
        aws_secret_access_key="x",
    )  # fmt: skip
    return boto3.client("sns", **kwargs), boto3.client("sqs", **kwargs)


def moto_reset(url: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def state(tmp_path: Path, moto_url: str) -> Path:
    """A state file path, with moto empty (``moto_url`` reset it)."""
    return tmp_path / STATE_FILE_NAME


@pytest.fixture
def first(state: Path) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(port=0, state_path=state, state_interval=0.2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def build(url: str) -> dict[str, Any]:
    """Topics, queues, subscriptions and messages of every kind the file must keep."""
    sns, sqs = clients(url)
    sqs.create_queue(QueueName="orders-dlq")
    dlq_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders-dlq"
    orders = sqs.create_queue(
        QueueName="orders",
        Attributes={
            "VisibilityTimeout": "45", "MessageRetentionPeriod": "7200",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
        tags={"team": "blue"},
    )["QueueUrl"]  # fmt: skip
    lanes = sqs.create_queue(
        QueueName="lanes.fifo", Attributes={"FifoQueue": "true", "DelaySeconds": "0"}
    )["QueueUrl"]
    topic = sns.create_topic(Name="news", Attributes={"DisplayName": "News"})["TopicArn"]
    fifo_topic = sns.create_topic(
        Name="lanes.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"}
    )["TopicArn"]
    filtered = sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders",
        Attributes={"FilterPolicy": json.dumps(FILTER), "RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]  # fmt: skip
    body_scoped = sns.subscribe(
        TopicArn=fifo_topic, Protocol="sqs",
        Endpoint=f"arn:aws:sqs:us-east-1:{ACCOUNT}:lanes.fifo",
        Attributes={"FilterPolicy": json.dumps({"lane": ["a"]}),
                    "FilterPolicyScope": "MessageBody"},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]  # fmt: skip
    attributes = {
        "kind": {"DataType": "String", "StringValue": "new"},
        "size": {"DataType": "Number", "StringValue": "42"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xffraw"},
    }
    sqs.send_message(QueueUrl=orders, MessageBody="direct", MessageAttributes=attributes)
    sqs.send_message(QueueUrl=orders, MessageBody="later", DelaySeconds=300)
    sns.publish(
        TopicArn=topic, Message="via sns",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "new"},
                           "size": {"DataType": "Number", "StringValue": "11"}},
    )  # fmt: skip
    sns.publish(  # filtered out: kind "old"
        TopicArn=topic, Message="not for orders",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "old"}},
    )  # fmt: skip
    sent_fifo = [
        sqs.send_message(
            QueueUrl=lanes,
            MessageBody=f"lane-{n}",
            MessageGroupId="g1" if n < 2 else "g2",
            MessageDeduplicationId=f"d{n}",
        )
        for n in range(3)
    ]
    # One message in flight: it must come back visible, its receive count kept.
    (taken,) = sqs.receive_message(QueueUrl=orders, MaxNumberOfMessages=1, VisibilityTimeout=600)[
        "Messages"
    ]
    return {
        "orders": orders, "lanes": lanes, "topic": topic, "fifo_topic": fifo_topic,
        "subscriptions": {filtered: FILTER, body_scoped: {"lane": ["a"]}},
        "taken": taken["MessageId"], "sent_fifo": sent_fifo,
    }  # fmt: skip


def inspected(url: str, queue_url: str) -> list[tuple[Any, ...]]:
    """A queue's messages as Flowdash's inspector reads them (no receive): what a restore
    must give back, in order."""
    conn = Connection(BackendConfig(backend="embedded"), endpoint_url=url)
    queue = resources.queue_get(conn, url=queue_url)
    return [
        (m.message_id, m.body, m.attributes, m.sent_timestamp, m.receive_count, m.group_id,
         m.deduplication_id, m.sequence_number, m.delayed_until)
        for m in queue_inspect(conn, queue=queue).messages
    ]  # fmt: skip


def topology(url: str) -> dict[str, Any]:
    sns, sqs = clients(url)
    queues = {}
    for queue_url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
        attributes = attributes["Attributes"]
        for counted in ("", "NotVisible", "Delayed"):  # in flight comes back visible
            attributes.pop(f"ApproximateNumberOfMessages{counted}")
        name = queue_url.rsplit("/", 1)[-1]
        queues[name] = (attributes, sqs.list_queue_tags(QueueUrl=queue_url).get("Tags"))
    topics = {
        t["TopicArn"]: (
            sns.get_topic_attributes(TopicArn=t["TopicArn"])["Attributes"],
            sns.list_tags_for_resource(ResourceArn=t["TopicArn"])["Tags"],
        )
        for t in sns.list_topics()["Topics"]
    }
    subscriptions = {
        s["SubscriptionArn"]: sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])[
            "Attributes"
        ]
        for s in sns.list_subscriptions()["Subscriptions"]
    }
    return {"queues": queues, "topics": topics, "subscriptions": subscriptions}


def test_restart_keeps_topology_and_messages(
    first: EmbeddedServer, state: Path, moto_server: str
) -> None:
    assert first.url and first.state_note == f"no saved state yet; it will be kept in {state}"
    made = build(first.url)
    before = topology(first.url)
    messages_before = {q: inspected(first.url, made[q]) for q in ("orders", "lanes")}
    first.stop()  # a clean stop writes the state once more

    moto_reset(moto_server)  # moto's models are process-wide: empty them all
    sns, sqs = clients(moto_server)
    assert sqs.list_queues().get("QueueUrls", []) == [] and sns.list_topics()["Topics"] == []

    second = EmbeddedServer(port=0, state_path=state)
    url = second.start()
    try:
        assert second.state_note == (
            f"restored 2 topics, 3 queues, 2 subscriptions, 6 messages from {state}"
        )
        after = topology(url)
        assert after == before
        for arn, policy in made["subscriptions"].items():
            assert json.loads(after["subscriptions"][arn]["FilterPolicy"]) == policy
        sns, sqs = clients(url)
        orders, lanes = made["orders"], made["lanes"]
        # Same ids, bodies, attributes, timestamps, counts, groups, dedup ids, delays.
        for name, queue_url in (("orders", orders), ("lanes", lanes)):
            assert inspected(url, queue_url) == messages_before[name]
        depth = sqs.get_queue_attributes(QueueUrl=orders, AttributeNames=["All"])["Attributes"]
        assert (depth["ApproximateNumberOfMessages"], depth["ApproximateNumberOfMessagesDelayed"],
                depth["ApproximateNumberOfMessagesNotVisible"]) == ("2", "1", "0")  # fmt: skip

        got = sqs.receive_message(
            QueueUrl=orders, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )["Messages"]  # fmt: skip
        by_body = {m["Body"]: m for m in got}
        assert set(by_body) == {"direct", "via sns"}  # "later" is still delayed
        direct = by_body["direct"]
        assert direct["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\xffraw"
        assert direct["MessageAttributes"]["size"] == {"StringValue": "42", "DataType": "Number"}
        # The message in flight at the stop is visible again, its receive count kept.
        counts = {m["MessageId"]: int(m["Attributes"]["ApproximateReceiveCount"]) for m in got}
        assert counts[made["taken"]] == 2 and sorted(counts.values()) == [1, 2]

        fifo = sqs.receive_message(
            QueueUrl=lanes, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        )["Messages"]
        assert [(m["Body"], m["Attributes"]["MessageGroupId"]) for m in fifo] == [
            ("lane-0", "g1"), ("lane-1", "g1"), ("lane-2", "g2"),
        ]  # fmt: skip
        assert [m["Attributes"]["SequenceNumber"] for m in fifo] == [
            s["SequenceNumber"] for s in made["sent_fifo"]
        ]
        # The restored subscriptions filter as before: only a matching copy arrives.
        sns.publish(
            TopicArn=made["topic"], Message="after restart",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "new"},
                               "size": {"DataType": "Number", "StringValue": "99"}},
        )  # fmt: skip
        sns.publish(
            TopicArn=made["topic"], Message="small",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "new"},
                               "size": {"DataType": "Number", "StringValue": "1"}},
        )  # fmt: skip
        fresh = sqs.receive_message(QueueUrl=orders, MaxNumberOfMessages=10)["Messages"]
        assert [m["Body"] for m in fresh] == ["after restart"]  # raw delivery kept too
        # FIFO deduplication still knows the restored ids.
        sqs.send_message(
            QueueUrl=lanes, MessageBody="lane-0", MessageGroupId="g1", MessageDeduplicationId="d0"
        )
        assert [m[1] for m in inspected(url, lanes)] == ["lane-0", "lane-1", "lane-2"]
    finally:
        second.stop()


def test_written_while_changing_atomically_and_not_when_idle(
    first: EmbeddedServer, state: Path
) -> None:
    assert first.url
    _, sqs = clients(first.url)
    url = sqs.create_queue(QueueName="watched")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    saved = wait_for_state(state, lambda s: _bodies(s, "watched") == ["one"])
    # Idle: nothing is written again.
    mtime = state.stat().st_mtime_ns
    time.sleep(1.0)
    assert state.stat().st_mtime_ns == mtime
    # A receive changes state (the receive count): written again.
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    saved = wait_for_state(state, lambda s: _receive_counts(s, "watched") == [1])
    assert saved["format"] == "flowdash-embedded-state" and saved["version"] == 1
    # Written atomically: the directory holds the file and nothing half-written.
    assert sorted(p.name for p in state.parent.iterdir()) == [STATE_FILE_NAME]


def test_an_unreadable_state_file_is_moved_aside_not_lost(state: Path) -> None:
    state.write_text("{ not json")
    server = EmbeddedServer(port=0, state_path=state)
    url = server.start()
    try:
        (aside,) = state.parent.glob(f"{STATE_FILE_NAME}.unreadable-*")
        assert aside.read_text() == "{ not json"
        assert server.state_note and server.state_note.startswith(f"could not restore {state}")
        _, sqs = clients(url)
        assert sqs.list_queues().get("QueueUrls", []) == []
    finally:
        server.stop()
    assert json.loads(state.read_text())["format"] == "flowdash-embedded-state"


def test_persist_setting() -> None:
    assert BackendConfig.from_env({}).persist is True
    assert BackendConfig.from_env({"FLOWDASH_PERSIST": "0"}).persist is False


def wait_for_state(path: Path, ready: Any, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            saved = json.loads(path.read_text())
        except FileNotFoundError:
            saved = None
        if saved is not None and ready(saved):
            return saved
        time.sleep(0.1)
    raise AssertionError(f"{path} never showed the change")


def _queue(saved: dict[str, Any], name: str) -> dict[str, Any] | None:
    for region in saved["sqs"]:
        for queue in region["queues"]:
            if queue["fields"]["_name"] == name:
                return queue
    return None


def _bodies(saved: dict[str, Any], name: str) -> list[str] | None:
    queue = _queue(saved, name)
    return None if queue is None else [m["body"] for m in queue["messages"]]


def _receive_counts(saved: dict[str, Any], name: str) -> list[int] | None:
    queue = _queue(saved, name)
    return None if queue is None else [m["approximate_receive_count"] for m in queue["messages"]]


# --- A real `manage.py serve`, stopped with Ctrl-C or killed ------------------------------------


def serve_pid() -> int:
    """The ``manage.py serve`` this test started (``flowdash_served`` keeps its Popen)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"manage.py" in cmdline and b"serve" in cmdline:
            return int(entry.name)
    raise AssertionError("no manage.py serve child found")


def wait_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat")
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} did not stop")


def served_changes(moto: str) -> None:
    sns, sqs = clients(moto)
    url = sqs.create_queue(QueueName="kept", Attributes={"VisibilityTimeout": "40"})["QueueUrl"]
    topic = sns.create_topic(Name="kept-topic")["TopicArn"]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:us-east-1:{ACCOUNT}:kept",
        Attributes={"FilterPolicy": json.dumps({"kind": ["new"]})},
    )  # fmt: skip
    for n in range(3):
        sns.publish(
            TopicArn=topic, Message=f"m{n}",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "new"}},
        )  # fmt: skip
    sqs.send_message(QueueUrl=url, MessageBody="direct")


def served_check(moto: str) -> None:
    sns, sqs = clients(moto)
    (url,) = sqs.list_queues()["QueueUrls"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "40"
    assert [t["TopicArn"].rsplit(":", 1)[-1] for t in sns.list_topics()["Topics"]] == ["kept-topic"]
    (sub,) = sns.list_subscriptions()["Subscriptions"]
    policy = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
    assert json.loads(policy["Attributes"]["FilterPolicy"]) == {"kind": ["new"]}
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    bodies = sorted(
        json.loads(m["Body"])["Message"] if m["Body"].startswith("{") else m["Body"] for m in got
    )
    assert bodies == ["direct", "m0", "m1", "m2"]


@pytest.mark.parametrize("stop", ["ctrl-c", "sigkill"])
def test_serve_restarts_with_what_it_had(tmp_path: Path, stop: str) -> None:
    """Ctrl-C writes the state at once; after SIGKILL the periodic write (every 2 s while
    something changes) has it, once a few seconds have passed."""
    var = tmp_path / "var"
    var.mkdir()
    with flowdash_served(var, password="persist-test-password", FLOWDASH_OBSERVER="inside") as live:
        served_changes(live.moto)
        pid = serve_pid()
        if stop == "sigkill":
            time.sleep(4)  # a few seconds after the changes
            os.kill(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGINT)
        wait_gone(pid)
        log = live.log.read_text()
    assert ("Flowdash stopped" in log) == (stop == "ctrl-c")
    with flowdash_served(
        var, password="persist-test-password", FLOWDASH_OBSERVER="inside"
    ) as again:
        banner = again.log.read_text()
        assert (
            "Embedded state: restored 1 topic, 1 queue, 1 subscription, 4 messages from "
            f"{var / STATE_FILE_NAME}" in banner
        ), banner
        served_check(again.moto)


# --- Mobile push: applications and devices come back, credentials are never written ----------

SECRET = "AAAA-real-looking-fcm-server-key-not-for-the-file"
APNS_SECRET = "-----BEGIN PRIVATE KEY-----apple-key-not-for-the-file"


def test_restart_keeps_push_applications_and_devices_without_their_credentials(
    first: EmbeddedServer, state: Path, moto_server: str
) -> None:
    """After a restart every phone is still a device of its application, subscribed and
    switched on or off as it was, so nobody registers again; the file holds no
    credential, and the restored devices receive the next publication as SNS would."""
    assert first.url
    sns, _ = clients(first.url)
    gcm = sns.create_platform_application(
        Name="phones-android", Platform="GCM",
        Attributes={"PlatformCredential": SECRET, "PlatformPrincipal": "flowdash"},
    )["PlatformApplicationArn"]  # fmt: skip
    apns = sns.create_platform_application(
        Name="phones-ios", Platform="APNS",
        Attributes={"PlatformCredential": APNS_SECRET, "PlatformPrincipal": "KEYID12345"},
    )["PlatformApplicationArn"]  # fmt: skip
    tokens = {"a": "fcm-token-a", "b": "fcm-token-b", "c": "ab" * 32}
    devices = {
        label: sns.create_platform_endpoint(
            PlatformApplicationArn=apns if label == "c" else gcm, Token=token,
            CustomUserData=f"phone {label}",
        )["EndpointArn"]
        for label, token in tokens.items()
    }  # fmt: skip
    sns.set_endpoint_attributes(EndpointArn=devices["b"], Attributes={"Enabled": "false"})
    topic = sns.create_topic(Name="class")["TopicArn"]
    for arn in devices.values():
        sns.subscribe(TopicArn=topic, Protocol="application", Endpoint=arn)

    def push_state(url: str) -> dict[str, Any]:
        client, _ = clients(url)
        apps = {
            a["PlatformApplicationArn"]: a["Attributes"]
            for a in client.list_platform_applications()["PlatformApplications"]
        }
        endpoints = {
            e["EndpointArn"]: e["Attributes"]
            for app in apps
            for e in client.list_endpoints_by_platform_application(PlatformApplicationArn=app)[
                "Endpoints"
            ]
        }
        subs = sorted(
            (s["Protocol"], s["Endpoint"], s["SubscriptionArn"])
            for s in client.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        )
        return {"applications": apps, "endpoints": endpoints, "subscriptions": subs}

    before = push_state(first.url)
    assert before["endpoints"][devices["b"]]["Enabled"] == "false"
    first.stop()
    text = state.read_text()
    assert SECRET not in text and APNS_SECRET not in text and "KEYID12345" not in text
    assert "PlatformCredential" not in text and "PlatformPrincipal" not in text

    moto_reset(moto_server)
    second = EmbeddedServer(port=0, state_path=state)
    url = second.start()
    try:
        assert second.state_note == (
            "restored 1 topic, 0 queues, 3 subscriptions, 0 messages, 2 platform applications, "
            f"3 devices from {state}"
        )
        assert push_state(url) == before
        sns, _ = clients(url)
        # A phone registering its token again gets its device back, not a new one.
        again = sns.create_platform_endpoint(
            PlatformApplicationArn=gcm, Token=tokens["a"], CustomUserData="phone a"
        )["EndpointArn"]
        assert again == devices["a"]
        # The restored devices receive as before: the disabled one nothing.
        gcm_payload = json.dumps({"notification": {"body": "after restart"}})
        apns_payload = json.dumps({"aps": {"alert": "after restart"}})
        sent = sns.publish(
            TopicArn=topic, MessageStructure="json",
            Message=json.dumps({"default": "after", "GCM": gcm_payload, "APNS": apns_payload}),
        )["MessageId"]  # fmt: skip
        outbox = moto_sns_outbox(account=ACCOUNT, region="us-east-1")
        assert sorted((r["to"], r["message_id"], r["body"]) for r in outbox) == sorted(
            [(devices["a"], sent, gcm_payload), (devices["c"], sent, apns_payload)]
        )
    finally:
        second.stop()
