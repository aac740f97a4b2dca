"""Saving the current topology as a scenario (``POST /api/classroom/scenarios`` and the
classroom page's form), on a real moto server: loading the saved scenario makes the same
topology again under ``sc-<slug>-``; bad or taken names are refused and store nothing."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from dashboard.backend import connection
from dashboard.classroom import scenario_services as services
from dashboard.classroom.definition import BAD_SLUG
from dashboard.classroom.errors import (
    NOTHING_TO_SAVE,
    SCENARIO_NAME_MISSING,
    SCENARIO_NAME_TAKEN,
    SCENARIO_SLUG_TAKEN,
)
from dashboard.classroom.models import Scenario
from dashboard.classroom.scenario_saving import NAME_MAX
from dashboard.models import WorkerSetting
from dashboard.services import worker_settings_set
from messaging import resources, subscriptions
from messaging.definitions import definitions_export
from messaging.workers import WorkerSpec

from .conftest import scenarios_sync, staff_user
from .test_participants import error, staff_call, staff_client

pytestmark = pytest.mark.django_db

POLICY = {"kind": ["order"], "amount": [{"numeric": [">", 10]}]}
SPEC = WorkerSpec(count=2, min_ms=100, max_ms=300, failure_rate=0.25, poison_marker="bad")


def build() -> dict[str, Any]:
    """A topic fanning out to a queue with a DLQ (filtered, raw) and to a second queue,
    a FIFO pair, and workers on the first queue."""
    conn = connection()
    orders = resources.topic_create(conn, name="orders")
    dlq = resources.queue_create(conn, name="billing-dlq")
    billing = resources.queue_create(
        conn, name="billing", visibility_timeout=45, receive_wait_seconds=5,
        dead_letter_queue_arn=dlq.arn, max_receive_count=3,
    )  # fmt: skip
    audit = resources.queue_create(conn, name="audit")
    subscriptions.subscription_create(
        conn, topic_arn=orders.arn, protocol="sqs", endpoint=billing.arn,
        filter_policy=POLICY, raw_message_delivery=True,
    )  # fmt: skip
    subscriptions.subscription_create(
        conn, topic_arn=orders.arn, protocol="sqs", endpoint=audit.arn
    )
    lanes = resources.topic_create(conn, name="lanes.fifo", fifo=True)
    lane_queue = resources.queue_create(
        conn, name="lane.fifo", fifo=True, content_based_deduplication=True
    )
    subscriptions.subscription_create(
        conn, topic_arn=lanes.arn, protocol="sqs", endpoint=lane_queue.arn
    )
    worker_settings_set(queue_arn=billing.arn, spec=SPEC)
    return {"billing": billing.arn}


def exported(strip: str = "") -> dict[str, Any]:
    """The topology as definitions (names without ``strip``), for comparing two of them."""
    document = definitions_export(connection())

    def short(name: str) -> str:
        return name[len(strip) :] if strip and name.startswith(strip) else name

    for topic in document["topics"]:
        topic["name"] = short(topic["name"])
    for queue in document["queues"]:
        queue["name"] = short(queue["name"])
        if queue["dead_letter_queue"]:
            queue["dead_letter_queue"] = short(queue["dead_letter_queue"])
    for sub in document["subscriptions"]:
        sub["topic"], sub["endpoint"] = short(sub["topic"]), short(sub["endpoint"])
    return {key: document[key] for key in ("topics", "queues", "subscriptions")}


def wipe(moto_url: str) -> None:
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    WorkerSetting.objects.all().delete()


def save(client: Client, **body: Any) -> Any:
    return staff_call(client, "post", "/api/classroom/scenarios", body)


def test_save_then_load_gives_the_same_topology(live_settings, moto_url: str) -> None:
    build()
    before = exported()
    client = staff_client()
    response = save(client, slug="shop", name="The shop", explanation="Orders fan out.")
    assert response.status_code == 201, response.content
    assert response.json() == {
        "slug": "shop", "name": "The shop", "explanation": "Orders fan out.",
        "prefix": "sc-shop-", "topics": 2, "queues": 4, "subscriptions": 3, "workers": 1,
        "notes": [],
    }  # fmt: skip
    definition = Scenario.objects.get(slug="shop").definition
    assert definition["workers"] == [
        {"queue": "billing", "count": 2, "min_ms": 100, "max_ms": 300, "failure_rate": 0.25,
         "poison_marker": "bad", "batch_size": 10, "wait_seconds": 20},
    ]  # fmt: skip

    wipe(moto_url)
    assert exported()["queues"] == []
    loaded = staff_call(client, "post", "/api/classroom/scenarios/shop/load")
    assert loaded.status_code == 200, loaded.content
    assert exported(strip="sc-shop-") == before
    row = WorkerSetting.objects.get(queue_arn=loaded.json()["queues"]["billing"])
    assert (row.count, row.min_ms, row.max_ms, row.failure_rate, row.poison_marker) == (
        2, 100, 300, 0.25, "bad",
    )  # fmt: skip


def test_a_changed_scenario_is_saved_without_its_old_prefix(live_settings, moto_url: str) -> None:
    scenarios = scenarios_sync()
    services.scenario_load(scenario=scenarios["fanout"], user=staff_user())
    response = save(staff_client(), slug="fanout-2", name="Fanout, my way")
    assert response.status_code == 201, response.content
    assert response.json()["explanation"].startswith("Saved from the topology by teacher: 1 topic")
    definition = Scenario.objects.get(slug="fanout-2").definition
    assert [t["name"] for t in definition["topics"]] == ["orders"]
    assert [q["name"] for q in definition["queues"]] == ["analytics", "billing", "shipping"]


@pytest.mark.parametrize(
    ("body", "status", "field", "message"),
    [
        ({"slug": "shop", "name": "Another"}, 409, "slug",
         SCENARIO_SLUG_TAKEN.format(slug="shop")),
        ({"slug": "shop-2", "name": "the SHOP"}, 409, "name",
         SCENARIO_NAME_TAKEN.format(name="the SHOP")),
        ({"slug": "Not a slug", "name": "Fine"}, 400, "slug", BAD_SLUG),
        ({"slug": "shop-3", "name": "   "}, 400, "name",
         SCENARIO_NAME_MISSING.format(limit=NAME_MAX)),
        ({"slug": "shop-4", "name": "x" * (NAME_MAX + 1)}, 400, "name",
         SCENARIO_NAME_MISSING.format(limit=NAME_MAX)),
    ],
)  # fmt: skip
def test_taken_or_invalid_names_are_refused_and_nothing_is_stored(
    live_settings, moto_url: str, body: dict[str, str], status: int, field: str, message: str
) -> None:
    build()
    client = staff_client()
    assert save(client, slug="shop", name="The shop").status_code == 201
    count = Scenario.objects.count()
    response = save(client, **body)
    assert response.status_code == status, response.content
    assert error(response) == {"code": error(response)["code"], "message": message, "field": field}
    assert Scenario.objects.count() == count


def test_an_empty_topology_or_a_name_too_long_for_the_prefix_is_refused(
    live_settings, moto_url: str
) -> None:
    client = staff_client()
    response = save(client, slug="empty", name="Empty")
    assert response.status_code == 400
    assert error(response)["message"] == NOTHING_TO_SAVE
    resources.queue_create(connection(), name="q" * 75)  # fits 80, not with sc-long-name-
    response = save(client, slug="long-name", name="Long")
    assert response.status_code == 400
    assert error(response)["field"] == "slug"
    assert error(response)["message"].startswith(f"Queue {'q' * 75!r}: ")
    assert not Scenario.objects.filter(slug__in=["empty", "long-name"]).exists()


def test_saving_is_for_instructors_with_csrf(live_settings, moto_url: str) -> None:
    build()
    viewer = Client(enforce_csrf_checks=True)
    viewer.force_login(User.objects.create_user("student", password="pw"))
    viewer.get("/class/join/")
    assert save(viewer, slug="mine", name="Mine").status_code == 401
    no_csrf = Client(enforce_csrf_checks=True)
    no_csrf.force_login(staff_user())
    response = no_csrf.post(
        "/api/classroom/scenarios", data={"slug": "mine", "name": "Mine"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code in (401, 403)
    assert not Scenario.objects.filter(slug="mine").exists()


def test_the_classroom_page_saves_and_shows_refusals(live_settings, moto_url: str) -> None:
    build()
    client = staff_client()
    token = client.cookies["csrftoken"].value
    form = {"slug": "shop", "name": "The shop", "explanation": "", "csrfmiddlewaretoken": token}
    saved = client.post("/class/scenarios/save", form, follow=True)
    assert saved.status_code == 200
    page = saved.content.decode()
    assert "Saved the topology as &#x27;The shop&#x27; (2 topics, 4 queues, 3 subscriptions" in page
    assert 'data-slug="shop"' in page  # listed with Load, Play and Reset
    again = client.post("/class/scenarios/save", form)
    assert again.status_code == 409
    assert 'id="save-slug-error"' in again.content.decode()
    assert "exists already; pick another slug." in again.content.decode()
    assert Scenario.objects.filter(slug="shop").count() == 1
