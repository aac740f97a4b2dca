"""What the presenter shows of a class, with the flow engine in-process: "Start and present"
with a scenario, students as producers, and failures said once ("Ada: tapped Fail")."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from dashboard import flowbus
from dashboard.classroom import scenario_services as services
from dashboard.classroom import session_services as class_services
from dashboard.classroom.models import ClassSession

from .conftest import scenarios_sync, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_start_and_present_with_a_scenario_asks_the_page_to_load_it(live_settings) -> None:
    scenarios_sync()
    client = Client()
    client.force_login(staff_user())
    answer = client.post("/class/start", {"title": "Messaging 101", "scenario": "fanout"})
    code = ClassSession.objects.get(title="Messaging 101").join_code
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/class/present/{code}/?start=1"
    page = client.get(answer.headers["Location"]).content.decode()
    assert 'data-testid="class-title">Messaging 101<' in page
    assert 'data-scenario="fanout"' in page
    # Without a scenario there is nothing to load.
    plain = client.post("/class/start", {"title": "Empty", "scenario": ""})
    assert "start=1" not in plain.headers["Location"]


async def test_a_student_publishes_as_a_producer_and_fails_once(shipped, teacher, engine) -> None:
    scenario = shipped["fanout"]
    loaded = await sync_to_async(services.scenario_load)(scenario=scenario, user=teacher)
    await engine.knows(loaded)
    await sync_to_async(services.scenario_workers_set)(
        scenario=scenario, queue="billing", count=0, user=teacher
    )
    await asyncio.sleep(2.5)  # the stopped worker's last long poll (2 s) must be over

    def join() -> object:
        class_session = class_services.class_session_start(user=staff_user(), title="Lab")
        class_services.class_session_scenario_set(
            class_session=class_session, scenario=scenario, topics=loaded.topics,
            queues=loaded.queues,
        )  # fmt: skip
        return class_services.participant_join(
            code=class_session.join_code, display_name="Ada", session_key="phone-ada"
        )

    ada = await sync_to_async(join)()
    orders, billing = loaded.topics["orders"], loaded.queues["billing"]
    published = await sync_to_async(class_services.participant_publish)(
        participant=ada, target_arn=orders, body="from Ada"
    )
    await engine.until(
        lambda: [e for e in engine.of("resource_changed", arn=orders) if e["kind"] == "producers"]
    )
    bus = flowbus._local
    assert bus is not None
    (producer,) = bus.snapshot()["producers"]
    assert (producer["name"], producer["target_arn"], producer["published"]) == ("Ada", orders, 1)
    await engine.until(
        lambda: engine.of("delivered", trace_id=published.message_id, endpoint=billing)
    )

    message = await sync_to_async(class_services.participant_receive)(
        participant=ada, queue_arn=billing
    )
    assert message is not None
    await sync_to_async(class_services.participant_finish)(participant=ada, ok=False)
    await engine.until(lambda: engine.of("failed", worker="Ada"))
    (failed,) = engine.of("failed", worker="Ada")
    assert failed["reason"] == "tapped Fail"  # the log says "Ada: tapped Fail", once
    # The snapshot's worker totals are the counters': one failure for Ada.
    (worker,) = [w for w in bus.snapshot()["workers"] if w["name"] == "Ada"]
    assert (worker["processed"], worker["failed"]) == (0, 1)
