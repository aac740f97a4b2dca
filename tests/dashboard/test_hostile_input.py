"""Hostile input through the API: huge bodies, floods, markup in names."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from dashboard.models import ApiToken
from messaging import resources
from messaging.config import BackendConfig
from messaging.connection import Connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(backend: str, instructor: User) -> Client:
    _, secret = ApiToken.issue(user=instructor, name="t")
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_one_mebibyte_body(api: Client, backend: str) -> None:
    conn = Connection(BackendConfig(), endpoint_url=backend)
    queue = resources.queue_create(conn, name="big")
    url = f"/api/queues/{queue.arn}/messages"
    exact = api.post(url, {"body": "x" * 1024 * 1024}, content_type="application/json")
    assert exact.status_code == 200
    over = api.post(url, {"body": "x" * (1024 * 1024 + 1)}, content_type="application/json")
    assert over.status_code == 400
    assert over.json()["error"]["field"] == "body"
    assert resources.queue_get(conn, url=queue.url).depth.visible == 1


def test_ten_thousand_rapid_publishes_are_limited_and_the_server_stays_responsive(
    api: Client, backend: str
) -> None:
    conn = Connection(BackendConfig(), endpoint_url=backend)
    queue = resources.queue_create(conn, name="flood")
    url = f"/api/queues/{queue.arn}/messages"
    started = time.monotonic()
    codes: dict[int, int] = {}
    for n in range(10_000):
        code = api.post(url, {"body": f"m{n}"}, content_type="application/json").status_code
        codes[code] = codes.get(code, 0) + 1
    elapsed = time.monotonic() - started
    sent = codes.get(200, 0)
    # The bucket holds 20 and refills at 5/s ("20/4"): what got through is bounded by the time.
    assert sent <= 20 + 5 * elapsed + 1
    assert codes.get(429, 0) == 10_000 - sent
    assert resources.queue_get(conn, url=queue.url).depth.visible == sent
    assert Client().get("/healthz").status_code == 200
    assert api.get("/api/topology").status_code == 200


@pytest.mark.parametrize(
    "name", ["<script>alert(1)</script>", 'a"onmouseover=alert(1)', "x'><img>"]
)
def test_markup_in_resource_names_is_refused(api: Client, name: str) -> None:
    for url in ("/api/topics", "/api/queues"):
        response = api.post(url, {"name": name}, content_type="application/json")
        assert response.status_code == 400
        assert "letters, digits" in response.json()["error"]["message"]
