"""Scenario services and definitions on a real moto server: what loading creates, what
resetting removes, and what is refused (with nothing half-created)."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.management import call_command
from django.test import Client

from dashboard.classroom import scenario_services as services
from dashboard.classroom.definition import (
    MISSING_QUEUE,
    DefinitionError,
    definition_parse,
)
from dashboard.classroom.errors import NO_SUCH_ACTION, NOT_LOADED, ClassroomError, ScenarioNotLoaded
from dashboard.classroom.loader import SCENARIO_DIR, scenario_files
from dashboard.classroom.models import Scenario
from dashboard.models import WorkerSetting
from messaging import resources, subscriptions
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.errors import InvalidInput

from .conftest import scenarios_sync, staff_user

FANOUT = json.loads((SCENARIO_DIR / "fanout.json").read_text())["definition"]


def names(conn: Connection) -> tuple[list[str], list[str]]:
    topics = [resources.arn_name(a) for a in resources.topic_arns(conn)]
    queues = [u.rsplit("/", 1)[-1] for u in resources.queue_urls(conn)]
    return topics, queues


@pytest.fixture
def conn(live_settings, moto_url: str) -> Connection:
    return Connection(BackendConfig(), endpoint_url=moto_url)


# Definitions ---------------------------------------------------------------------------


def test_a_reference_to_a_missing_queue_is_refused_with_its_place() -> None:
    broken = copy.deepcopy(FANOUT)
    broken["subscriptions"][1]["queue"] = "shiping"
    with pytest.raises(DefinitionError) as caught:
        definition_parse(broken, slug="fanout")
    assert caught.value.message == MISSING_QUEUE.format(where="Subscription 1", name="shiping")
    assert caught.value.message == (
        "Subscription 1 names queue 'shiping', which this scenario does not define."
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["workers"].append({"queue": "billng", "count": 1}),
            "Worker spec 3 names queue 'billng', which this scenario does not define.",
        ),
        (
            lambda d: d["publish"].append(
                {"kind": "burst", "topic": "order", "count": 1, "rate": 1}
            ),
            "Publishing step 1 names topic 'order', which this scenario does not define.",
        ),
        (
            lambda d: d.update(allow={"work": ["nowhere"]}),
            "allow.work[0] names queue 'nowhere', which this scenario does not define.",
        ),
        (
            lambda d: d["queues"].append({"name": "x", "colour": "red"}),
            "Queue 3: unknown key 'colour'; expected one of content_based_deduplication, "
            "dead_letter_queue, fifo, max_receive_count, name, receive_wait_seconds, "
            "visibility_timeout.",
        ),
        (
            lambda d: d["queues"].append({"name": "loop", "dead_letter_queue": "loop"}),
            "Queue 'loop': its dead-letter queues lead back to itself.",
        ),
        (
            lambda d: (
                d["queues"].append({"name": "late.fifo", "fifo": True}),
                d["subscriptions"].append(
                    {"topic": "orders", "protocol": "sqs", "queue": "late.fifo"}
                ),
            ),
            "Subscription 3: a standard topic cannot deliver to a FIFO queue.",
        ),
        (
            lambda d: d["workers"].__setitem__(0, {"queue": "billing", "failure_rate": 2}),
            "Workers on 'billing': The failure rate is between 0 and 1.",
        ),
        (
            lambda d: d["subscriptions"][0].update(
                filter_policy={"amount": [{"numeric": [">", "x"]}]}
            ),
            "Subscription 0 filter_policy: numeric operator '>' for key 'amount' needs a number "
            "after it, not a string",
        ),
        (
            lambda d: d["queues"].append({"name": "x" * 80}),
            f"Queue {'x' * 80!r}: A queue name can be at most 80 characters; this one has 90.",
        ),
    ],
)
def test_definition_errors_say_where(change, message) -> None:
    broken = copy.deepcopy(FANOUT)
    change(broken)
    with pytest.raises(DefinitionError) as caught:
        definition_parse(broken, slug="fanout")
    assert caught.value.message == message


def test_every_shipped_file_is_valid() -> None:
    slugs = [s["slug"] for s in scenario_files()]
    assert sorted(slugs) == sorted(
        ["fanout", "work-queue", "spike", "fifo", "dlq", "filters", "priority", "a2p", "push"]
    )


@pytest.mark.django_db
def test_the_migration_installed_the_shipped_scenarios() -> None:
    assert set(Scenario.objects.filter(shipped=True).values_list("slug", flat=True)) == {
        s["slug"] for s in scenario_files()
    }


@pytest.mark.django_db
def test_loadscenarios_installs_and_keeps_edits_unless_replace(capsys) -> None:
    Scenario.objects.all().delete()
    call_command("loadscenarios")
    assert Scenario.objects.count() == 9
    Scenario.objects.filter(slug="fanout").update(name="My fanout")
    call_command("loadscenarios")
    assert "installed already" in capsys.readouterr().out
    assert Scenario.objects.get(slug="fanout").name == "My fanout"
    call_command("loadscenarios", "--replace")
    assert Scenario.objects.get(slug="fanout").name == "Fanout"


@pytest.mark.django_db
def test_the_admin_refuses_a_scenario_that_names_a_missing_queue(live_settings) -> None:
    from django.contrib.auth.models import User

    admin = User.objects.create_superuser("boss", password="x")
    client = Client()
    client.force_login(admin)
    broken = copy.deepcopy(FANOUT)
    broken["workers"][0]["queue"] = "biling"
    before = Scenario.objects.count()
    response = client.post(
        "/admin/classroom/scenario/add/",
        {
            "name": "Broken", "slug": "broken", "explanation": "x", "position": 1,
            "definition": json.dumps(broken),
        },
        HTTP_HOST="127.0.0.1",
    )  # fmt: skip
    assert response.status_code == 200
    assert "Worker spec 0 names queue &#x27;biling&#x27;, which this scenario does not define." in (
        response.content.decode()
    )
    assert Scenario.objects.count() == before


# Loading and resetting -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_load_creates_only_under_its_prefix_and_reset_removes_exactly_that(conn) -> None:
    scenarios = scenarios_sync()
    user = staff_user()
    resources.topic_create(conn, name="orders")
    resources.queue_create(conn, name="billing")
    services.scenario_load(scenario=scenarios["work-queue"], user=user)
    before_topics, before_queues = names(conn)

    loaded = services.scenario_load(scenario=scenarios["fanout"], user=user)
    topics, queues = names(conn)
    assert sorted(set(topics) - set(before_topics)) == ["sc-fanout-orders"]
    assert sorted(set(queues) - set(before_queues)) == [
        "sc-fanout-analytics", "sc-fanout-billing", "sc-fanout-shipping",
    ]  # fmt: skip
    subs = subscriptions.subscription_list(conn, topic_arn=loaded.topics["orders"])
    assert sorted(s.endpoint for s in subs) == sorted(loaded.queues.values())
    assert set(loaded.subscriptions) == {s.arn for s in subs}
    rows = {r.queue_arn: r for r in WorkerSetting.objects.all()}
    assert rows[loaded.queues["analytics"]].min_ms == 800
    assert rows[loaded.queues["billing"]].count == 1

    reset = services.scenario_reset(scenario=scenarios["fanout"], user=user)
    assert reset.topics == ["sc-fanout-orders"] and reset.workers == 3 and reset.subscriptions == 3
    assert names(conn) == (before_topics, before_queues)
    assert set(WorkerSetting.objects.values_list("queue_arn", flat=True)) == {
        a for a in rows if a.endswith(":sc-work-queue-jobs")
    }


@pytest.mark.django_db(transaction=True)
def test_loading_twice_reuses_what_is_there(conn) -> None:
    scenarios = scenarios_sync()
    first = services.scenario_load(scenario=scenarios["filters"], user=staff_user())
    second = services.scenario_load(scenario=scenarios["filters"], user=staff_user())
    assert first == second
    subs = subscriptions.subscription_list(conn, topic_arn=first.topics["orders"])
    assert len(subs) == 4 and all(s.filter_policy for s in subs)


@pytest.mark.django_db(transaction=True)
def test_a_failed_load_leaves_nothing_half_created(conn) -> None:
    """The HTTP subscription (the last one) is refused; the topic that was there before
    stays, and the SMS and email subscriptions made before the failure are removed."""
    scenarios = scenarios_sync()
    existing = resources.topic_create(conn, name="sc-a2p-alerts")
    before = names(conn)
    with pytest.raises(InvalidInput) as caught:
        services.scenario_load(
            scenario=scenarios["a2p"], user=staff_user(), base_url="http://elsewhere.example/"
        )
    assert caught.value.field == "endpoint" and "elsewhere.example" in caught.value.message
    assert names(conn) == before
    assert subscriptions.subscription_list(conn, topic_arn=existing.arn) == []


@pytest.mark.django_db(transaction=True)
def test_playing_before_loading_sends_nothing(conn) -> None:
    scenarios = scenarios_sync()
    with pytest.raises(ScenarioNotLoaded) as caught:
        services.scenario_play(scenario=scenarios["fanout"], user=staff_user())
    assert caught.value.message == NOT_LOADED.format(kind="topic", name="orders")
    assert caught.value.message == "Load the scenario first: topic 'orders' does not exist."


@pytest.mark.django_db(transaction=True)
def test_simulated_workers_change_count_but_keep_their_behaviour(conn) -> None:
    scenarios = scenarios_sync()
    loaded = services.scenario_load(scenario=scenarios["fanout"], user=staff_user())
    spec = services.scenario_workers_set(
        scenario=scenarios["fanout"], queue="analytics", count=4, user=staff_user()
    )
    assert (spec.count, spec.min_ms, spec.max_ms, spec.wait_seconds) == (4, 800, 1200, 2)
    assert WorkerSetting.objects.get(queue_arn=loaded.queues["analytics"]).count == 4
    with pytest.raises(ClassroomError) as caught:
        services.scenario_action_run(scenario=scenarios["fanout"], index=0, user=staff_user())
    assert caught.value.message == NO_SUCH_ACTION.format(index=0)
