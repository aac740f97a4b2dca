"""Flowdash's own SNS HTTP receiver refuses what is not an SNS message for its topics."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from dashboard.models import HttpDelivery

pytestmark = pytest.mark.django_db(transaction=True)

TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"


def post(body: object) -> int:
    data = body if isinstance(body, str) else json.dumps(body)
    return Client().post("/hooks/sns/", data, content_type="text/plain").status_code


def test_receiver_checks_what_it_stores(backend: str) -> None:
    assert post("not json") == 400
    assert post({"hello": "world"}) == 400
    assert (
        post({"Type": "Notification", "TopicArn": TOPIC, "MessageId": "m1", "Message": "x"}) == 200
    )
    assert Client().get("/hooks/sns/").status_code == 405
    (stored,) = HttpDelivery.objects.all()
    assert (stored.message_id, stored.body, stored.confirmed) == ("m1", "x", False)


def test_confirmation_url_from_an_unexpected_host_is_not_fetched(backend: str) -> None:
    message = {
        "Type": "SubscriptionConfirmation", "TopicArn": TOPIC, "MessageId": "c1",
        "SubscribeURL": "http://169.254.169.254/latest/meta-data/",
    }  # fmt: skip
    assert post(message) == 200
    assert HttpDelivery.objects.get().confirmed is False


def test_topics_outside_the_prefix_are_refused(settings, moto_url: str) -> None:
    from messaging.config import BackendConfig

    settings.FLOWDASH_BACKEND = BackendConfig(
        backend="endpoint", endpoint_url=moto_url, resource_prefix="fd-"
    )
    assert post({"Type": "Notification", "TopicArn": TOPIC, "MessageId": "m", "Message": ""}) == 403
    assert not HttpDelivery.objects.exists()
