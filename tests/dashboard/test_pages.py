"""The resource pages, through Django's test client with CSRF checks on."""

from __future__ import annotations

import pytest
from django.test import Client

from messaging import publishing, resources
from messaging.config import BackendConfig
from messaging.connection import Connection

from .conftest import csrf_post

pytestmark = pytest.mark.django_db


def moto(url: str) -> Connection:
    return Connection(BackendConfig(), endpoint_url=url)


ATTRS_EMPTY = {"attr-TOTAL_FORMS": "0", "attr-INITIAL_FORMS": "0"}


def test_anonymous_users_see_the_login_page(backend: str) -> None:
    client = Client()
    for url in ("/", "/topics/", "/queues/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
    assert Client().get("/login/").status_code == 200


def test_post_without_csrf_token_is_refused(client_in: Client) -> None:
    response = client_in.post("/topics/", {"name": "orders"})
    assert response.status_code == 403


def test_header_shows_backend_and_endpoint(client_in: Client, backend: str) -> None:
    html = client_in.get("/").content.decode()
    assert "endpoint" in html
    assert backend in html


def test_create_topic_and_queue_with_dead_letter_queue(client_in: Client, backend: str) -> None:
    response = csrf_post(client_in, "/topics/", {"name": "orders"})
    assert response.status_code == 302
    response = csrf_post(
        client_in,
        "/queues/",
        {"name": "billing", "new_dead_letter_queue": "billing-dlq", "max_receive_count": "4"},
    )
    assert response.status_code == 302
    queue = resources.queue_list(moto(backend))[0]
    assert queue.name == "billing" and queue.max_receive_count == 4
    page = client_in.get(response["Location"]).content.decode()
    assert "billing-dlq" in page and "after 4 receives" in page


def test_invalid_names_are_shown_next_to_the_field(client_in: Client, backend: str) -> None:
    response = csrf_post(client_in, "/queues/", {"name": "no spaces please"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "letters, digits, &#x27;-&#x27; and &#x27;_&#x27;" in html
    assert 'id="id_name_error"' in html or "errorlist" in html
    response = csrf_post(client_in, "/queues/", {"name": "jobs", "fifo": "on"})
    assert "must end in &#x27;.fifo&#x27;" in response.content.decode()
    assert resources.queue_list(moto(backend)) == []


def test_subscribe_publish_and_peek(client_in: Client, backend: str) -> None:
    conn = moto(backend)
    topic = resources.topic_create(conn, name="orders")
    queue = resources.queue_create(conn, name="billing")
    response = csrf_post(
        client_in,
        f"/topics/{topic.arn}/subscribe",
        {
            "protocol": "sqs",
            "queue_arn": queue.arn,
            "filter_policy": "{oops",
            "filter_policy_scope": "MessageAttributes",
        },
    )
    assert response.status_code == 400
    assert "Filter policy is not valid JSON" in response.content.decode()
    response = csrf_post(
        client_in,
        f"/topics/{topic.arn}/subscribe",
        {"protocol": "sqs", "queue_arn": queue.arn, "filter_policy_scope": "MessageAttributes"},
    )
    assert response.status_code == 302
    response = csrf_post(
        client_in,
        f"/topics/{topic.arn}/publish",
        {
            "subject": "hello",
            "body": "<img src=x onerror=alert(1)>",
            "attr-TOTAL_FORMS": "1",
            "attr-INITIAL_FORMS": "0",
            "attr-0-name": "region",
            "attr-0-type": "String",
            "attr-0-value": "eu",
        },
    )
    assert response.status_code == 302
    response = csrf_post(
        client_in, f"/queues/{queue.arn}/peek", {"max_messages": "10", "visibility_timeout": "30"}
    )
    html = response.content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    assert "region" in html and "hello" in html
    assert "receive count 1" in html
    assert resources.queue_get(conn, url=queue.url).depth.in_flight == 1


def test_peeked_message_can_be_returned_or_deleted(client_in: Client, backend: str) -> None:
    conn = moto(backend)
    queue = resources.queue_create(conn, name="work")
    publishing.queue_send(conn, queue_url=queue.url, body="job")
    (message,) = publishing.queue_receive(conn, queue_url=queue.url)
    response = csrf_post(
        client_in,
        f"/queues/{queue.arn}/messages/release",
        {"receipt_handle": message.receipt_handle},
    )
    assert response.status_code == 302
    assert resources.queue_get(conn, url=queue.url).depth.visible == 1
    (message,) = publishing.queue_receive(conn, queue_url=queue.url)
    csrf_post(
        client_in,
        f"/queues/{queue.arn}/messages/delete",
        {"receipt_handle": message.receipt_handle},
    )
    depth = resources.queue_get(conn, url=queue.url).depth
    assert (depth.visible, depth.in_flight) == (0, 0)


def test_fifo_send_without_group_id(client_in: Client, backend: str) -> None:
    conn = moto(backend)
    queue = resources.queue_create(conn, name="jobs.fifo", fifo=True)
    response = csrf_post(client_in, f"/queues/{queue.arn}/send", {"body": "x", **ATTRS_EMPTY})
    assert response.status_code == 400
    assert "A FIFO queue needs a message group id." in response.content.decode()


def test_oversize_message_on_the_page(client_in: Client, backend: str) -> None:
    conn = moto(backend)
    topic = resources.topic_create(conn, name="orders")
    response = csrf_post(
        client_in, f"/topics/{topic.arn}/publish", {"body": "x" * (256 * 1024 + 1), **ATTRS_EMPTY}
    )
    assert response.status_code == 400
    assert "the limit is 262,144 bytes" in response.content.decode()


def test_healthz_names_the_backend_and_no_secrets(client_in: Client, backend: str) -> None:
    data = Client().get("/healthz").json()
    assert data["status"] == "ok"
    assert data["backend"] == "endpoint"
    assert data["endpoint_url"] == backend
    assert set(data) == {
        "status", "backend", "endpoint_url", "region", "resource_prefix",
        "aws_requests", "aws_requests_total", "moto_fastpath", "moto_inprocess", "observer",
        "engine",
    }  # fmt: skip
    assert data["observer"] == "outside"  # an endpoint is watched from outside
    assert data["engine"]["state"] == "not started"  # no socket has asked for it yet
