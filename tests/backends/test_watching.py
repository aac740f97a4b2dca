"""Watching from outside, end to end (#16's "Done when"), on moto and on a real LocalStack.

Flowdash runs as ``manage.py serve`` against an ``endpoint`` that outlives it (the test
session's moto server, or a LocalStack of this module's own), with the shipped listing
cadence; another program (plain boto3) creates and deletes; a real websocket viewer
(``FlowWatch``) and that program's own listings are what the tests assert on. Each
Flowdash gets a resource prefix of its own, so it sees only what its test made.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from messaging.watcher import Watcher
from tests.backends.conftest import (
    MOTO_ACCOUNT,
    NO_RETRIES,
    PASSWORD,
    REGION,
    Api,
    selected_backends,
)
from tests.backends.localstack import ACCOUNT as LOCALSTACK_ACCOUNT
from tests.backends.localstack import localstack_running
from tests.clients.conftest import FlowWatch, wait_for
from tests.live import LiveServer, flowdash_served

#: Within this long of a change by anyone, Flowdash shows it (issue #16).
LIMIT = 5.0
#: The cadence Flowdash ships with, not a test's quicker one.
REFRESH = Watcher.__init__.__kwdefaults__["refresh_seconds"]
WATCHED = [b for b in selected_backends() if b in ("outside", "localstack")]


@dataclass(frozen=True)
class Aws:
    """Where the AWS APIs live, outliving any Flowdash a test starts and stops."""

    id: str
    endpoint: str
    account: str


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(b, id=b, marks=[pytest.mark.localstack] if b == "localstack" else [])
        for b in WATCHED
    ],
)
def aws(
    request: pytest.FixtureRequest, moto_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Aws]:
    if request.param == "outside":
        yield Aws("outside", moto_server, MOTO_ACCOUNT)
        return
    # As on AWS, a deleted queue's name stays blocked for 60 s (moto never blocks it).
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SQS_DELAY_RECENTLY_DELETED", "1")
        with localstack_running(tmp_path_factory.mktemp("localstack-watching")) as localstack:
            yield Aws("localstack", localstack.url, LOCALSTACK_ACCOUNT)


class Other:
    """Another program: boto3 with its own credentials, and the prefix the test's
    Flowdash watches."""

    def __init__(self, aws: Aws) -> None:
        session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
        )
        self.sns = session.client("sns", endpoint_url=aws.endpoint, config=NO_RETRIES)
        self.sqs = session.client("sqs", endpoint_url=aws.endpoint, config=NO_RETRIES)
        self.prefix = f"w{secrets.token_hex(3)}-"

    def topic(self, stem: str) -> str:
        arn: str = self.sns.create_topic(Name=self.prefix + stem)["TopicArn"]
        return arn

    def queue(self, stem: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=self.prefix + stem)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    def taps(self) -> list[str]:
        """Flowdash's tap queues under the prefix, by name."""
        urls = self.sqs.list_queues(QueueNamePrefix=self.prefix + "fdtap-").get("QueueUrls", [])
        return sorted(u.rsplit("/", 1)[-1] for u in urls)

    def tap_subscriptions(self) -> list[dict[str, str]]:
        subs = self.sns.list_subscriptions()["Subscriptions"]
        mark = ":" + self.prefix + "fdtap-"
        return [s for s in subs if mark in s["Endpoint"]]

    def subscriptions(self) -> list[dict[str, str]]:
        subs = self.sns.list_subscriptions()["Subscriptions"]
        return [s for s in subs if f":{self.prefix}" in s["TopicArn"]]


@pytest.fixture
def other(aws: Aws) -> Iterator[Other]:
    program = Other(aws)
    yield program
    for sub in program.subscriptions():
        if sub["SubscriptionArn"].startswith("arn:"):
            program.sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    for topic in program.sns.list_topics()["Topics"]:
        if f":{program.prefix}" in topic["TopicArn"]:
            program.sns.delete_topic(TopicArn=topic["TopicArn"])
    for url in program.sqs.list_queues(QueueNamePrefix=program.prefix).get("QueueUrls", []):
        program.sqs.delete_queue(QueueUrl=url)


@contextmanager
def flowdash(aws: Aws, other: Other, var: Path, **env: str) -> Iterator[LiveServer]:
    """A Flowdash watching ``aws`` from outside under ``other``'s prefix, at its shipped cadence."""
    settings = {
        "FLOWDASH_BACKEND": "endpoint",
        "FLOWDASH_AWS_ENDPOINT_URL": aws.endpoint,
        "FLOWDASH_AWS_REGION": REGION,
        "FLOWDASH_RESOURCE_PREFIX": other.prefix,
        "FLOWDASH_LOG_LEVEL": "WARNING",
        "FLOWDASH_REFRESH_SECONDS": str(REFRESH),
        **env,
    }
    with flowdash_served(var, password=PASSWORD, **settings) as server:
        health = httpx.get(f"{server.base}/healthz", timeout=10).json()
        assert (health["backend"], health["observer"]) == ("endpoint", "outside"), health
        yield server


@contextmanager
def viewer(server: LiveServer) -> Iterator[tuple[Api, FlowWatch]]:
    api = Api.login(server.base, server.password)
    flow = FlowWatch(server.base, f"sessionid={api.http.cookies['sessionid']}")
    flow.start()
    try:
        yield api, flow
    finally:
        flow.close()
        api.close()
    assert flow.gaps == [], f"frames were lost: {flow.gaps}"


def kill(server: LiveServer) -> None:
    """SIGKILL the ``manage.py serve`` behind ``server``: no shutdown, no clean-up."""
    port = server.base.rsplit(":", 1)[-1]
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmdline and f"FLOWDASH_PORT={port}".encode() in environ:
            os.kill(int(pid), signal.SIGKILL)
            return
    raise AssertionError(f"no manage.py serve on port {port}")


def created_at(flow: FlowWatch, arn: str) -> float:
    return flow.arrival("resource_changed", action="created", arn=arn)


def test_resources_made_by_another_program_show_within_5_s(
    aws: Aws, other: Other, tmp_path: Path
) -> None:
    with flowdash(aws, other, tmp_path) as server, viewer(server) as (api, flow):
        # Topics are tapped: the flow page has no notice of what taps-off would miss.
        assert 'data-testid="untapped"' not in api.http.get("/").text
        made = time.monotonic()
        topic = other.topic("orders")
        queues = [other.queue(f"orders-{n}") for n in range(3)]
        subs = [
            other.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
            for _url, arn in queues
        ]
        arns = [topic, *(arn for _url, arn in queues), *subs]
        wait_for(lambda: all(flow.of("resource_changed", action="created", arn=a) for a in arns),
                 "the new topic, queues and subscriptions on the socket", timeout=15)  # fmt: skip
        latest = max(created_at(flow, a) for a in arns) - made
        assert latest < LIMIT, f"shown {latest:.2f} s after being made"
        # Tapped at once: publications from then on are all seen.
        wait_for(lambda: len(other.tap_subscriptions()) == 1, "the tap", timeout=LIMIT)
        ids = [
            other.sns.publish(TopicArn=topic, Message=f"order {n}")["MessageId"] for n in range(10)
        ]
        wait_for(lambda: all(flow.of("published", trace_id=i) for i in ids), "every publication")
        # What the viewer is shown holds the user's resources and not the tap.
        snapshot = flow.resync()["topology"]
        assert {q["arn"] for q in snapshot["queues"]} == {arn for _url, arn in queues}
        assert {s["arn"] for s in snapshot["subscriptions"]} == set(subs)
        assert {t["arn"] for t in snapshot["topics"]} == {topic}


def test_a_tap_goes_within_5_s_of_its_topic(aws: Aws, other: Other, tmp_path: Path) -> None:
    with flowdash(aws, other, tmp_path) as server, viewer(server) as (_api, flow):
        topic = other.topic("doomed")
        wait_for(lambda: len(other.taps()) == 1 and len(other.tap_subscriptions()) == 1,
                 "the topic's tap", timeout=2 * LIMIT)  # fmt: skip
        (tap,) = other.taps()
        url = other.sqs.get_queue_url(QueueName=tap)["QueueUrl"]
        tags = other.sqs.list_queue_tags(QueueUrl=url)["Tags"]
        assert tags == {"managed-by": "flowdash", "flowdash:tap-of": topic}
        deleted = time.monotonic()
        other.sns.delete_topic(TopicArn=topic)
        wait_for(lambda: not other.taps() and not other.tap_subscriptions(),
                 "the tap queue and its subscription gone", timeout=3 * LIMIT)  # fmt: skip
        gone = time.monotonic() - deleted
        assert gone < LIMIT, f"tap gone {gone:.2f} s after its topic"
        flow.wait(lambda: bool(flow.of("resource_changed", action="deleted", arn=topic)),
                  "the topic's deletion")  # fmt: skip


def test_a_restart_after_a_kill_removes_the_orphans(aws: Aws, other: Other, tmp_path: Path) -> None:
    live = other.topic("live")
    gone = other.topic("gone")
    with flowdash(aws, other, tmp_path / "first") as first:
        wait_for(lambda: len(other.taps()) == 2, "both taps", timeout=2 * LIMIT)
        kill(first)
    before = other.taps()
    assert len(before) == 2 and len(other.tap_subscriptions()) == 2  # left behind
    other.sns.delete_topic(TopicArn=gone)
    started = time.monotonic()
    with flowdash(aws, other, tmp_path / "second") as second, viewer(second) as (_api, flow):
        wait_for(lambda: len(other.taps()) == 1 and len(other.tap_subscriptions()) == 1,
                 "one tap, of the topic that is left", timeout=3 * LIMIT)  # fmt: skip
        assert time.monotonic() - started < LIMIT + 15  # start-up, then one listing
        (kept,) = other.taps()
        assert kept in before  # the killed Flowdash's tap of a live topic is adopted
        assert [s["TopicArn"] for s in other.tap_subscriptions()] == [live]
        message = other.sns.publish(TopicArn=live, Message="after the restart")["MessageId"]
        wait_for(lambda: bool(flow.of("published", trace_id=message)), "a publication")
    # Stopped cleanly, Flowdash stops watching: it leaves nothing of its own.
    assert other.taps() == [] and other.tap_subscriptions() == []


def test_a_quick_restart_taps_again_at_once(aws: Aws, other: Other, tmp_path: Path) -> None:
    """A clean stop deletes the taps; AWS (and this LocalStack) then block their names
    for 60 s, so a Flowdash started again at once taps under the spare name."""
    topic = other.topic("restarted")
    with flowdash(aws, other, tmp_path / "first"):
        wait_for(lambda: len(other.taps()) == 1, "the tap", timeout=2 * LIMIT)
        (first,) = other.taps()
    assert other.taps() == []
    started = time.monotonic()
    with flowdash(aws, other, tmp_path / "second") as server, viewer(server) as (_api, flow):
        wait_for(lambda: len(other.taps()) == 1 and len(other.tap_subscriptions()) == 1,
                 "a tap again", timeout=3 * LIMIT)  # fmt: skip
        assert time.monotonic() - started < LIMIT + 15  # start-up, then at once
        (second,) = other.taps()
        if aws.id == "localstack":
            assert second == first + "s"  # the usual name is still blocked
        message = other.sns.publish(TopicArn=topic, Message="seen again")["MessageId"]
        wait_for(lambda: bool(flow.of("published", trace_id=message)), "a publication")
        assert not flow.of("error", source="tap"), flow.of("error")
    assert other.taps() == []
    # A third start within the minute: on AWS's rules both names are blocked. Flowdash
    # starts all the same and says why the topic is not tapped yet.
    with flowdash(aws, other, tmp_path / "third") as server, viewer(server) as (_api, flow):
        if aws.id == "localstack":
            flow.wait(lambda: bool(flow.of("error", source="tap", resource=topic)),
                      "an error event for the blocked tap")  # fmt: skip
            assert "60 seconds" in flow.of("error", source="tap")[0]["message"]
            assert other.taps() == []
        else:
            wait_for(lambda: len(other.taps()) == 1, "the tap", timeout=3 * LIMIT)


def test_taps_off_adds_nothing_and_the_flow_page_says_what_is_missed(
    aws: Aws, other: Other, tmp_path: Path
) -> None:
    with (
        flowdash(aws, other, tmp_path, FLOWDASH_TAPS="off") as server,
        viewer(server) as (api, flow),
    ):
        topic = other.topic("untapped")
        url, queue = other.queue("untapped-q")
        other.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue)
        wait_for(lambda: all(flow.of("resource_changed", action="created", arn=a)
                             for a in (topic, queue)), "the topic and the queue")  # fmt: skip
        other.sqs.send_message(QueueUrl=url, MessageBody="shown as depth")
        flow.wait(lambda: any(e.get("visible") == 1 for e in flow.of("depth", queue_arn=queue)),
                  "the queue's depth")  # fmt: skip
        time.sleep(2 * REFRESH)  # more listings: still nothing of Flowdash's own
        assert other.taps() == []
        assert [s["Endpoint"] for s in other.subscriptions()] == [queue]
        page = api.http.get("/")
        assert page.status_code == 200
        assert 'data-testid="untapped"' in page.text and "FLOWDASH_TAPS=off" in page.text
        assert _aws_requests(server).get("sns.Subscribe", 0) == 0


def _aws_requests(server: LiveServer) -> dict[str, Any]:
    health: dict[str, Any] = httpx.get(f"{server.base}/healthz", timeout=10).json()
    requests: dict[str, Any] = health["aws_requests"]
    return requests
