"""The classroom's JSON API, mounted at ``/api/classroom/``.

Two kinds of caller: staff (the instructor's logged-in session) run scenarios
and class sessions; participants (no account, a browser session made by
joining) act only through ``/me``, which is always their own place in their own
class. Both use the session cookie, so both need Django's CSRF token on every
POST; both get the API's one error shape, since every classroom failure is a
Flowdash exception.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.security import APIKeyCookie
from ninja.security.session import SessionAuthIsStaff

from messaging.validation import MessageAttribute

from . import scenario_saving as saving
from . import scenario_services as services
from . import selectors
from . import session_services as class_services
from .errors import NOT_JOINED, ClassroomError
from .models import Participant

PARTICIPANT_SESSION_KEY = "classroom_participant"


class ParticipantAuth(APIKeyCookie):
    """The participant tied to this browser session (and CSRF-checked, as a cookie auth)."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=True)
        self.openapi_name = "participantSession"

    def authenticate(self, request: HttpRequest, key: str | None) -> Participant:
        found = participant_from_session(request)
        if found is None:
            raise ClassroomError(NOT_JOINED, code="NotJoined")
        return class_services.participant_check(participant=found)


class ParticipantRequest(HttpRequest):
    """A request ``ParticipantAuth`` let in: django-ninja sets ``auth`` to the participant."""

    auth: Participant


def participant_from_session(request: HttpRequest) -> Participant | None:
    pk = request.session.get(PARTICIPANT_SESSION_KEY)
    if pk is None or not request.session.session_key:
        return None
    return (
        Participant.objects.select_related("class_session", "class_session__scenario")
        .filter(pk=pk, session_key=request.session.session_key)
        .first()
    )


staff = SessionAuthIsStaff()
router = Router(tags=["classroom"], auth=staff)


# Schemas ---------------------------------------------------------------------------


class ClassErrorDetail(Schema):
    code: str
    message: str
    field: str | None = None


class ClassErrorOut(Schema):
    error: ClassErrorDetail


ERRORS = {code: ClassErrorOut for code in (400, 403, 404, 409, 429, 502, 503)}


class FlagsIn(Schema):
    joining_open: bool | None = None
    publishing_locked: bool | None = None


class AllowedIn(Schema):
    topics: list[str] = []
    queues: list[str] = []
    work: list[str] = []


class ScenarioIn(Schema):
    slug: str


class LoadOut(Schema):
    topics: dict[str, str]
    queues: dict[str, str]
    subscriptions: list[str]
    prefix: str


class PlayOut(Schema):
    bursts: int
    sent: list[str]


class ResetOut(Schema):
    topics: list[str]
    queues: list[str]
    subscriptions: int
    workers: int
    applications: list[str]
    devices: int


class ScenarioSaveIn(Schema):
    slug: str = Field(description="Part of every resource name when loaded: sc-<slug>-<name>")
    name: str = Field(description="Shown in the scenario lists")
    explanation: str = Field("", description="What to watch; a summary when left empty")


class ScenarioSavedOut(Schema):
    slug: str
    name: str
    explanation: str
    prefix: str
    topics: int
    queues: int
    subscriptions: int
    workers: int
    notes: list[str]


class MessageOut(Schema):
    message: str


class WorkersIn(Schema):
    queue: str = Field(description="The queue's short name in the scenario")
    count: int = Field(ge=0, le=50)


class WorkersOut(Schema):
    count: int
    min_ms: int
    max_ms: int
    failure_rate: float
    poison_marker: str
    batch_size: int
    wait_seconds: int


class AttributeIn(Schema):
    name: str
    type: str = "String"
    value: str


class PublishIn(Schema):
    target_arn: str
    body: str
    attributes: list[AttributeIn] = []
    message_group_id: str | None = None


class PublishOut(Schema):
    message_id: str


class ReceiveIn(Schema):
    queue_arn: str


# Staff: class sessions -------------------------------------------------------------


@router.get("/sessions/{code}", response={200: dict[str, Any], **ERRORS})
def session_state(request: HttpRequest, code: str) -> Any:
    """Flags, participants and their recent actions: what the presenter view polls."""
    return selectors.class_session_state(class_session=selectors.class_session_get(code=code))


@router.post("/sessions/{code}/flags", response={200: dict[str, Any], **ERRORS})
def session_flags(request: HttpRequest, code: str, payload: FlagsIn) -> Any:
    class_session = class_services.class_session_flags_set(
        class_session=selectors.class_session_get(code=code), **payload.dict()
    )
    return selectors.class_session_state(class_session=class_session)


@router.put("/sessions/{code}/allowed", response={200: dict[str, Any], **ERRORS})
def session_allowed(request: HttpRequest, code: str, payload: AllowedIn) -> Any:
    class_session = class_services.class_session_allow(
        class_session=selectors.class_session_get(code=code), **payload.dict()
    )
    return selectors.class_session_state(class_session=class_session)


@router.post("/sessions/{code}/end", response={200: dict[str, Any], **ERRORS})
def session_end(request: HttpRequest, code: str) -> Any:
    class_session = class_services.class_session_end(
        class_session=selectors.class_session_get(code=code)
    )
    return selectors.class_session_state(class_session=class_session)


@router.post("/sessions/{code}/participants/{pk}/remove", response={200: dict[str, Any], **ERRORS})
def participant_remove(request: HttpRequest, code: str, pk: int) -> Any:
    class_session = selectors.class_session_get(code=code)
    participant = class_session.participants.present().filter(pk=pk).first()
    if participant is not None:
        class_services.participant_remove(participant=participant)
    return selectors.class_session_state(class_session=class_session)


@router.post("/sessions/{code}/scenario", response={200: LoadOut, **ERRORS})
def session_scenario(request: HttpRequest, code: str, payload: ScenarioIn) -> Any:
    """Load a scenario for this class and allow what it says participants use."""
    class_session = selectors.class_session_get(code=code)
    scenario = selectors.scenario_get(slug=payload.slug)
    loaded = services.scenario_load(scenario=scenario, user=request.user)
    class_services.class_session_scenario_set(
        class_session=class_session, scenario=scenario, topics=loaded.topics, queues=loaded.queues
    )
    return _load_out(loaded, scenario)


# Staff: scenarios ------------------------------------------------------------------


@router.post("/scenarios", response={201: ScenarioSavedOut, **ERRORS})
def scenario_save(request: HttpRequest, payload: ScenarioSaveIn) -> Any:
    """Save the current topology (topics, queues, subscriptions, workers) as a new
    scenario; ``notes`` says what it could not hold. A taken slug or name is 409."""
    saved = saving.scenario_save(
        slug=payload.slug, name=payload.name, explanation=payload.explanation, user=request.user
    )
    summary = selectors.scenario_summary(scenario=saved.scenario) or {}
    return Status(
        201,
        {
            "slug": saved.scenario.slug, "name": saved.scenario.name,
            "explanation": saved.scenario.explanation, "prefix": summary.get("prefix", ""),
            "topics": saved.topics, "queues": saved.queues,
            "subscriptions": saved.subscriptions, "workers": saved.workers, "notes": saved.notes,
        },
    )  # fmt: skip


@router.post("/scenarios/{slug}/load", response={200: LoadOut, **ERRORS})
def scenario_load(request: HttpRequest, slug: str) -> Any:
    scenario = selectors.scenario_get(slug=slug)
    loaded = services.scenario_load(scenario=scenario, user=request.user)
    return _load_out(loaded, scenario)


@router.post("/scenarios/{slug}/play", response={200: PlayOut, **ERRORS})
def scenario_play(request: HttpRequest, slug: str) -> Any:
    """Run the scenario's publishing pattern (bursts run in the background)."""
    return services.scenario_play(scenario=selectors.scenario_get(slug=slug), user=request.user)


@router.post("/scenarios/{slug}/reset", response={200: ResetOut, **ERRORS})
def scenario_reset(request: HttpRequest, slug: str) -> Any:
    """Remove everything the scenario made (its prefix), and its workers."""
    return services.scenario_reset(scenario=selectors.scenario_get(slug=slug), user=request.user)


@router.post("/scenarios/{slug}/actions/{index}", response={200: MessageOut, **ERRORS})
def scenario_action(request: HttpRequest, slug: str, index: int) -> Any:
    message = services.scenario_action_run(
        scenario=selectors.scenario_get(slug=slug), index=index, user=request.user
    )
    return {"message": message}


@router.put("/scenarios/{slug}/workers", response={200: WorkersOut, **ERRORS})
def scenario_workers(request: HttpRequest, slug: str, payload: WorkersIn) -> Any:
    spec = services.scenario_workers_set(
        scenario=selectors.scenario_get(slug=slug), queue=payload.queue, count=payload.count,
        user=request.user,
    )  # fmt: skip
    return asdict(spec)


def _load_out(loaded: services.LoadResult, scenario: Any) -> dict[str, Any]:
    return {
        **asdict(loaded),
        "prefix": (selectors.scenario_summary(scenario=scenario) or {})["prefix"],
    }


# Participants ----------------------------------------------------------------------

me = ParticipantAuth()


@router.get("/me", auth=me, response={200: dict[str, Any], **ERRORS})
def me_view(request: ParticipantRequest) -> Any:
    """This participant, their class's rules and the message they hold."""
    return selectors.participant_view(participant=request.auth)


@router.post("/me/publish", auth=me, response={200: PublishOut, **ERRORS})
def me_publish(request: ParticipantRequest, payload: PublishIn) -> Any:
    result = class_services.participant_publish(
        participant=request.auth,
        target_arn=payload.target_arn,
        body=payload.body,
        attributes=[MessageAttribute(**a.dict()) for a in payload.attributes],
        message_group_id=payload.message_group_id or None,
    )
    return {"message_id": result.message_id}


@router.post("/me/work/receive", auth=me, response={200: dict[str, Any], **ERRORS})
def me_receive(request: ParticipantRequest, payload: ReceiveIn) -> Any:
    """Take one message (60 s visibility timeout); ``holding`` is null when there was none."""
    class_services.participant_receive(participant=request.auth, queue_arn=payload.queue_arn)
    return selectors.participant_view(participant=_fresh(request.auth))


@router.post("/me/work/done", auth=me, response={200: dict[str, Any], **ERRORS})
def me_done(request: ParticipantRequest) -> Any:
    class_services.participant_finish(participant=request.auth, ok=True)
    return selectors.participant_view(participant=_fresh(request.auth))


@router.post("/me/work/fail", auth=me, response={200: dict[str, Any], **ERRORS})
def me_fail(request: ParticipantRequest) -> Any:
    class_services.participant_finish(participant=request.auth, ok=False)
    return selectors.participant_view(participant=_fresh(request.auth))


@router.post("/me/work/stop", auth=me, response={200: dict[str, Any], **ERRORS})
def me_stop(request: ParticipantRequest) -> Any:
    class_services.participant_work_stop(participant=request.auth)
    return selectors.participant_view(participant=_fresh(request.auth))


def _fresh(participant: Participant) -> Participant:
    participant.refresh_from_db()
    return participant
