"""Instructors change things, viewers watch (and publish when allowed), everyone is rate-limited."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from dashboard.models import ApiToken, SiteSettings
from dashboard.permissions import PUBLISH_LOCKED, STAFF_ONLY
from messaging import resources
from messaging.config import BackendConfig
from messaging.connection import Connection

from .conftest import csrf_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(db) -> User:
    return User.objects.create_user("student", password="pw")


def token_client(user: User) -> Client:
    _, secret = ApiToken.issue(user=user, name="t")
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_viewer_cannot_change_resources(backend: str, viewer: User) -> None:
    conn = Connection(BackendConfig(), endpoint_url=backend)
    queue = resources.queue_create(conn, name="work")
    api = token_client(viewer)
    assert api.get("/api/topology").status_code == 200
    for method, url, body in [
        ("post", "/api/topics", {"name": "t"}),
        ("delete", f"/api/queues/{queue.arn}", None),
        ("post", f"/api/queues/{queue.arn}/purge", None),
        ("post", f"/api/queues/{queue.arn}/receive", {}),
        ("put", f"/api/queues/{queue.arn}/workers", {"count": 2}),
    ]:
        kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
        response = getattr(api, method)(url, **kwargs)
        assert response.status_code == 403, (url, response.content)
        assert response.json()["error"]["message"] == STAFF_ONLY
    page = Client(enforce_csrf_checks=True)
    page.force_login(viewer)
    response = csrf_post(page, "/topics/", {"name": "sneaky"})
    assert response.status_code == 403
    assert STAFF_ONLY in response.content.decode()
    assert [q.name for q in resources.queue_list(conn)] == ["work"]
    assert resources.topic_list(conn) == []


def test_viewer_publishes_only_when_allowed(backend: str, viewer: User) -> None:
    conn = Connection(BackendConfig(), endpoint_url=backend)
    queue = resources.queue_create(conn, name="work")
    api = token_client(viewer)
    send = lambda: api.post(  # noqa: E731
        f"/api/queues/{queue.arn}/messages", {"body": "hi"}, content_type="application/json"
    )
    response = send()
    assert response.status_code == 403
    assert response.json()["error"]["message"] == PUBLISH_LOCKED
    SiteSettings.objects.update_or_create(pk=1, defaults={"viewers_may_publish": True})
    assert send().status_code == 200
    assert resources.queue_get(conn, url=queue.url).depth.visible == 1


def test_publishing_is_rate_limited(settings, backend: str, instructor: User) -> None:
    settings.FLOWDASH_PUBLISH_RATE = "3/3"
    conn = Connection(BackendConfig(), endpoint_url=backend)
    queue = resources.queue_create(conn, name="work")
    api = token_client(instructor)
    codes = [
        api.post(
            f"/api/queues/{queue.arn}/messages", {"body": f"m{n}"}, content_type="application/json"
        ).status_code
        for n in range(6)
    ]
    assert codes[:3] == [200, 200, 200] and set(codes[3:]) == {429}
    limited = api.post(
        f"/api/queues/{queue.arn}/messages", {"body": "x"}, content_type="application/json"
    ).json()
    assert limited["error"]["code"] == "RateLimited"
    assert resources.queue_get(conn, url=queue.url).depth.visible == 3


def test_read_only_dashboard(settings, moto_url: str, instructor: User) -> None:
    settings.FLOWDASH_BACKEND = BackendConfig(
        backend="endpoint", endpoint_url=moto_url, read_only=True
    )
    api = token_client(instructor)
    response = api.post("/api/topics", {"name": "t"}, content_type="application/json")
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]["message"]
    assert api.get("/api/topology").status_code == 200
