"""Students without accounts: joining, publishing within the class's rules, working a
queue from a phone, and the instructor's controls. Django's test client with CSRF
checks on, against a real moto server (the fanout scenario loaded)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils.html import escape

from dashboard.classroom import scenario_services as services
from dashboard.classroom import session_services as class_services
from dashboard.classroom.errors import (
    ALREADY_HOLDING,
    CLASS_ENDED,
    NAME_INVALID,
    NAME_TAKEN,
    NOT_JOINED,
    NOTHING_HELD,
    PUBLISHING_LOCKED,
    QUEUE_NOT_ALLOWED,
    RATE_LIMITED,
    REMOVED,
    TARGET_NOT_ALLOWED,
    UNKNOWN_CODE,
)
from dashboard.classroom.models import ParticipantAction
from dashboard.ratelimit import Rate, rate_parse, token_take
from messaging import resources

from .conftest import scenarios_sync, staff_user

pytestmark = pytest.mark.django_db


class Phone:
    """A student's browser: a session cookie, the CSRF cookie, JSON calls like the page's."""

    def __init__(self) -> None:
        self.client = Client(enforce_csrf_checks=True)

    def join(self, code: str, name: str) -> Any:
        self.client.get("/class/join/")
        return self.client.post(
            "/class/join/",
            {"code": code, "display_name": name, "csrfmiddlewaretoken": self.token},
        )

    @property
    def token(self) -> str:
        return self.client.cookies["csrftoken"].value

    def call(self, method: str, url: str, body: Any = None, *, csrf: bool = True) -> Any:
        headers = {"HTTP_X_CSRFTOKEN": self.token} if csrf and method != "get" else {}
        data = {"data": json.dumps(body), "content_type": "application/json"} if body else {}
        return getattr(self.client, method)(url, **data, **headers)

    def me(self) -> Any:
        return self.call("get", "/api/classroom/me")

    def publish(self, target: str, body: str = "hello", **extra: Any) -> Any:
        return self.call(
            "post", "/api/classroom/me/publish", {"target_arn": target, "body": body, **extra}
        )


@pytest.fixture
def klass(live_settings, moto_url: str):
    """A class with the fanout scenario loaded: publish to orders, work on its queues."""
    cache.clear()
    scenarios = scenarios_sync()
    user = staff_user()
    class_session = class_services.class_session_start(user=user, title="Messaging 101")
    loaded = services.scenario_load(scenario=scenarios["fanout"], user=user)
    class_services.class_session_scenario_set(
        class_session=class_session, scenario=scenarios["fanout"], topics=loaded.topics,
        queues=loaded.queues,
    )  # fmt: skip
    from dashboard.backend import connection

    return SimpleNamespace(code=class_session.join_code, loaded=loaded, conn=connection())


def staff_client() -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user())
    client.get("/class/join/")  # the CSRF cookie
    return client


def staff_call(client: Client, method: str, url: str, body: Any = None) -> Any:
    token = client.cookies["csrftoken"].value
    data = {"data": json.dumps(body), "content_type": "application/json"} if body else {}
    return getattr(client, method)(url, **data, HTTP_X_CSRFTOKEN=token)


def error(response: Any) -> dict[str, Any]:
    return response.json()["error"]


def depth(conn: Any, arn: str) -> tuple[int, int]:
    queue = resources.queue_get(conn, url=resources.queue_url(conn, arn=arn))
    return queue.depth.visible, queue.depth.in_flight


# Joining -------------------------------------------------------------------------------


def test_an_unknown_code_is_refused_clearly(klass) -> None:
    response = Phone().join("zz zzz", "Ada")
    assert response.status_code == 404
    assert escape(UNKNOWN_CODE.format(code="ZZZZZ")) in response.content.decode()


def test_a_participant_sees_only_their_own_class(klass) -> None:
    other = class_services.class_session_start(user=staff_user(), title="Another class")
    phone = Phone()
    joined = phone.join(klass.code.lower(), "  Ada   Lovelace ")
    assert joined.status_code == 302 and joined.url == "/class/me/"
    me = phone.me().json()
    assert me["name"] == "Ada Lovelace" and me["class"]["code"] == klass.code
    assert me["scenario"]["name"] == "Fanout"
    assert [t["name"] for t in me["targets"]] == ["sc-fanout-orders"]
    assert sorted(q["name"] for q in me["work_queues"]) == [
        "sc-fanout-analytics", "sc-fanout-billing", "sc-fanout-shipping",
    ]  # fmt: skip
    # Staff endpoints, for this class or another, are not for participants.
    for code in (klass.code, other.join_code):
        assert phone.call("get", f"/api/classroom/sessions/{code}").status_code == 401
    assert phone.call("post", "/api/classroom/scenarios/fanout/reset").status_code == 401
    assert Phone().me().json()["error"]["message"] == NOT_JOINED


def test_display_names_are_checked_and_unique_per_class(klass) -> None:
    assert Phone().join(klass.code, "Ada").status_code == 302
    taken = Phone().join(klass.code, "ADA")
    assert taken.status_code == 400
    assert escape(NAME_TAKEN.format(name="ADA")) in taken.content.decode()
    bad = Phone().join(klass.code, "<script>")
    assert escape(NAME_INVALID) in bad.content.decode()
    bad = Phone().join(klass.code, "billing#1")  # could pass for a simulated worker
    assert escape(NAME_INVALID) in bad.content.decode()


def test_the_same_phone_joining_again_keeps_its_place(klass) -> None:
    phone = Phone()
    phone.join(klass.code, "Ada")
    phone.join(klass.code, "Ada L")
    state = staff_client().get(f"/api/classroom/sessions/{klass.code}").json()
    assert [p["name"] for p in state["participants"]] == ["Ada L"]


# Publishing ----------------------------------------------------------------------------


def test_publishing_needs_csrf_an_allowed_target_and_an_open_class(klass) -> None:
    phone = Phone()
    phone.join(klass.code, "Ada")
    orders = klass.loaded.topics["orders"]
    refused = phone.call(
        "post", "/api/classroom/me/publish", {"target_arn": orders, "body": "x"}, csrf=False
    )
    assert refused.status_code == 403
    published = phone.publish(orders, "order from Ada")
    assert published.status_code == 200, published.content
    for arn in klass.loaded.queues.values():
        assert depth(klass.conn, arn) == (1, 0)
    billing = klass.loaded.queues["billing"]
    not_allowed = phone.publish(billing)
    assert not_allowed.status_code == 403
    assert error(not_allowed)["message"] == TARGET_NOT_ALLOWED.format(name="sc-fanout-billing")
    # The presenter sees who published which message.
    state = staff_client().get(f"/api/classroom/sessions/{klass.code}").json()
    assert state["actions"][0] | {"at": 0} == {
        "name": "Ada", "kind": "published", "trace_id": published.json()["message_id"],
        "target": "sc-fanout-orders", "at": 0,
    }  # fmt: skip
    assert state["participants"][0]["published"] == 1

    teacher = staff_client()
    staff_call(
        teacher, "post", f"/api/classroom/sessions/{klass.code}/flags", {"publishing_locked": True}
    )
    locked = phone.publish(orders)
    assert locked.status_code == 403 and error(locked)["message"] == PUBLISHING_LOCKED
    assert phone.me().json()["class"]["publishing_locked"] is True


def test_publishing_is_rate_limited_per_participant(klass, settings) -> None:
    settings.FLOWDASH_PARTICIPANT_RATE = "2/60"
    ada, bob = Phone(), Phone()
    ada.join(klass.code, "Ada")
    bob.join(klass.code, "Bob")
    orders = klass.loaded.topics["orders"]
    assert [ada.publish(orders).status_code for _ in range(2)] == [200, 200]
    limited = ada.publish(orders)
    assert limited.status_code == 429
    assert error(limited)["message"] == RATE_LIMITED.format(seconds=30)
    assert bob.publish(orders).status_code == 200


def test_the_token_bucket_refills_at_its_rate() -> None:
    cache.clear()
    rate = rate_parse("2/10")
    assert rate == Rate(capacity=2, per_seconds=10.0)
    take = lambda now: token_take(key="t", rate=rate, now=now)  # noqa: E731
    assert [take(100.0), take(100.0), take(100.0)] == [0, 0, 5]
    assert take(104.0) == 1 and take(105.1) == 0
    with pytest.raises(ValueError):
        rate_parse("lots")


# Working a queue -----------------------------------------------------------------------


def test_a_phone_worker_receives_fails_and_finishes_a_message(klass) -> None:
    phone = Phone()
    phone.join(klass.code, "Ada")
    billing = klass.loaded.queues["billing"]
    phone.publish(klass.loaded.topics["orders"], "order 7", attributes=[
        {"name": "region", "value": "eu-west-1"},
    ])  # fmt: skip
    assert error(phone.call("post", "/api/classroom/me/work/done"))["message"] == NOTHING_HELD
    wrong = phone.call(
        "post", "/api/classroom/me/work/receive", {"queue_arn": klass.loaded.topics["orders"]}
    )
    assert error(wrong)["message"] == QUEUE_NOT_ALLOWED.format(name="sc-fanout-orders")

    held = phone.call("post", "/api/classroom/me/work/receive", {"queue_arn": billing}).json()
    message = held["holding"]
    assert (message["body"], message["receive_count"], message["queue"]) == (
        "order 7", 1, "billing",
    )  # fmt: skip
    assert message["attributes"] == {"region": "eu-west-1"}
    assert held["working"] == billing
    assert depth(klass.conn, billing) == (0, 1)
    again = phone.call("post", "/api/classroom/me/work/receive", {"queue_arn": billing})
    assert error(again)["message"] == ALREADY_HOLDING

    failed = phone.call("post", "/api/classroom/me/work/fail").json()
    assert failed["holding"] is None and failed["counts"]["failed"] == 1
    assert depth(klass.conn, billing) == (1, 0)  # visible again at once

    retry = phone.call("post", "/api/classroom/me/work/receive", {"queue_arn": billing}).json()
    assert retry["holding"]["receive_count"] == 2
    done = phone.call("post", "/api/classroom/me/work/done").json()
    assert done["counts"] == {"published": 1, "processed": 1, "failed": 1}
    assert depth(klass.conn, billing) == (0, 0)
    kinds = list(ParticipantAction.objects.order_by("created_at").values_list("kind", flat=True))
    assert kinds == ["published", "failed", "processed"]

    empty = phone.call("post", "/api/classroom/me/work/receive", {"queue_arn": billing}).json()
    assert empty["holding"] is None


# The instructor's controls -------------------------------------------------------------


def test_a_removed_participant_is_out_and_their_message_goes_back(klass) -> None:
    phone = Phone()
    phone.join(klass.code, "Ada")
    billing = klass.loaded.queues["billing"]
    phone.publish(klass.loaded.topics["orders"])
    phone.call("post", "/api/classroom/me/work/receive", {"queue_arn": billing})
    teacher = staff_client()
    ada = teacher.get(f"/api/classroom/sessions/{klass.code}").json()["participants"][0]
    assert ada["working"] == "sc-fanout-billing" and ada["holding"] is True
    state = staff_call(
        teacher, "post", f"/api/classroom/sessions/{klass.code}/participants/{ada['id']}/remove"
    ).json()
    assert state["counts"] == {"joined": 0, "working": 0}
    assert depth(klass.conn, billing) == (1, 0)
    gone = phone.me()
    assert gone.status_code == 403 and error(gone)["message"] == REMOVED
    assert escape(REMOVED) in phone.join(klass.code, "Ada again").content.decode()
    assert escape(REMOVED) in phone.client.get("/class/me/").content.decode()


def test_an_ended_class_refuses_everyone(klass) -> None:
    phone = Phone()
    phone.join(klass.code, "Ada")
    teacher = staff_client()
    ended = staff_call(teacher, "post", f"/api/classroom/sessions/{klass.code}/end").json()
    assert ended["ended"] is True and ended["joining_open"] is False
    assert error(phone.me())["message"] == CLASS_ENDED
    assert escape(CLASS_ENDED) in Phone().join(klass.code, "Bob").content.decode()


def test_closing_joining_keeps_those_who_are_in(klass) -> None:
    ada = Phone()
    ada.join(klass.code, "Ada")
    staff_call(
        staff_client(), "post", f"/api/classroom/sessions/{klass.code}/flags",
        {"joining_open": False},
    )  # fmt: skip
    assert ada.me().status_code == 200
    late = Phone().join(klass.code, "Bob")
    assert "not taking new participants" in late.content.decode()


def test_the_instructor_sets_what_participants_may_use(klass) -> None:
    phone = Phone()
    phone.join(klass.code, "Ada")
    billing = klass.loaded.queues["billing"]
    teacher = staff_client()
    staff_call(
        teacher, "put", f"/api/classroom/sessions/{klass.code}/allowed",
        {"topics": [], "queues": [billing], "work": []},
    )  # fmt: skip
    me = phone.me().json()
    assert [t["kind"] for t in me["targets"]] == ["queue"] and me["work_queues"] == []
    assert phone.publish(billing, "straight to billing").status_code == 200
    assert depth(klass.conn, billing) == (1, 0)
    wrong = staff_call(
        teacher, "put", f"/api/classroom/sessions/{klass.code}/allowed", {"topics": [billing]}
    )
    assert wrong.status_code == 403 and "is not an SNS ARN" in error(wrong)["message"]


def test_pages_for_staff_and_for_phones(klass) -> None:
    teacher = staff_client()
    page = teacher.get(f"/class/present/{klass.code}/").content.decode()
    assert f'data-code="{klass.code}"' in page and '<svg class="qr"' in page
    assert f"http://testserver/class/join/?code={klass.code}" in page
    assert teacher.get("/class/").status_code == 200
    anonymous = Client().get(f"/class/present/{klass.code}/")
    assert anonymous.status_code == 302 and anonymous.url.startswith("/login/")
    student = User.objects.create_user("student", password="x")
    not_staff = Client()
    not_staff.force_login(student)
    assert not_staff.get("/class/").status_code == 302
    assert not_staff.get(f"/api/classroom/sessions/{klass.code}").status_code == 401
    assert Client().get("/class/me/").url == "/class/join/"
