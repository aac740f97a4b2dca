"""Dashboard fixtures: the app pointed at the test's moto server, and a logged-in instructor."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from django.contrib.auth.models import User
from django.test import Client

from dashboard.models import ApiToken
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


@pytest.fixture
def token(backend: str, instructor: User) -> str:
    """A bearer token of the instructor's, as ``manage.py apitoken`` hands out."""
    _, secret = ApiToken.issue(user=instructor, name="tests")
    return secret


@pytest.fixture
def sqs(backend: str) -> Any:
    """A plain boto3 client of the test's moto server: what AWS itself holds."""
    return boto3.client(
        "sqs", endpoint_url=backend, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip


def api_post(url: str, token: str, body: object):
    """POST JSON as a script does: with a bearer token."""
    return Client().post(
        url, json.dumps(body), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )  # fmt: skip


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
