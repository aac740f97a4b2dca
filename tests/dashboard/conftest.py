"""Dashboard fixtures: the app pointed at the test's moto server, and a logged-in instructor."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from messaging.config import BackendConfig


@pytest.fixture
def backend(settings, moto_url: str) -> str:
    """Point Flowdash at the per-test moto server, as FLOWDASH_BACKEND=endpoint would."""
    settings.FLOWDASH_BACKEND = BackendConfig(backend="endpoint", endpoint_url=moto_url)
    return moto_url


@pytest.fixture
def instructor(db) -> User:
    return User.objects.create_superuser("teacher", password="correct horse battery")


@pytest.fixture
def client_in(backend: str, instructor: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(instructor)
    return client


def csrf_post(client: Client, url: str, data: dict, **kwargs):
    """POST as a browser does: with the CSRF token from the cookie."""
    client.get("/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    return client.post(url, {**data, "csrfmiddlewaretoken": token}, **kwargs)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit buckets live in the cache, keyed by user id; ids repeat across tests."""
    from django.core.cache import cache

    cache.clear()
