"""Flowdash's own requests reach the embedded moto server in-process, not over HTTP."""

from __future__ import annotations

from dataclasses import replace

import pytest

from messaging import publishing, resources
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.embedded.inprocess import app_for, app_register, app_unregister
from messaging.errors import ResourceNotFound

#: Nothing listens here (the discard port), so only an in-process request can succeed.
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture
def nowhere(moto_url: str) -> Connection:
    """A connection whose endpoint has no socket behind it, only the server's WSGI app."""
    app = app_for(moto_url)
    assert app is not None, "the embedded server registers its app"
    app_register(NOWHERE, app)
    try:
        yield Connection(BackendConfig(), endpoint_url=NOWHERE)
    finally:
        app_unregister(NOWHERE)


def test_requests_skip_http_and_share_state_with_http_clients(
    nowhere: Connection, moto_url: str
) -> None:
    assert nowhere.in_process
    queue = resources.queue_create(nowhere, name="orders")
    topic = resources.topic_create(nowhere, name="events")
    nowhere.sns.subscribe(TopicArn=topic.arn, Protocol="sqs", Endpoint=queue.arn)
    publishing.topic_publish(nowhere, topic_arn=topic.arn, body="<b>hello</b>")

    over_http = Connection(replace(BackendConfig(), moto_inprocess=False), endpoint_url=moto_url)
    assert not over_http.in_process
    url = over_http.sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    got = over_http.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert '"Message": "<b>hello</b>"' in got[0]["Body"]
    # Counted like any request, so /healthz's AWS cost stays true.
    assert nowhere.requests.snapshot()["sns.Publish"] == 1


def test_aws_errors_arrive_as_over_http(nowhere: Connection) -> None:
    with pytest.raises(ResourceNotFound):
        resources.queue_get(nowhere, url=f"{NOWHERE}/123456789012/missing")


def test_off_switch_and_other_endpoints_use_http(moto_url: str) -> None:
    assert Connection(BackendConfig(), endpoint_url=moto_url).in_process
    off = replace(BackendConfig(), moto_inprocess=False)
    assert not Connection(off, endpoint_url=moto_url).in_process
    endpoint = replace(BackendConfig(), backend="endpoint")
    assert not Connection(endpoint, endpoint_url=moto_url).in_process
    assert BackendConfig.from_env({"FLOWDASH_MOTO_INPROCESS": "0"}).moto_inprocess is False
