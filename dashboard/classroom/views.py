"""The classroom pages: the scenario list and presenter view (staff), the join form and
the participant page (anyone with the code), and the HTTP endpoint SNS delivers to.

Pages render a shell; the presenter and participant pages then talk to
``/api/classroom/`` and, for the presenter, the flow socket.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import user_passes_test
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from messaging.errors import FlowdashError

from . import selectors
from . import session_services as class_services
from .api import PARTICIPANT_SESSION_KEY, participant_from_session
from .errors import CLASS_ENDED, REMOVED
from .models import ClassSession, Scenario
from .qr import qr_svg
from .scenario_saving import scenario_save as scenario_save_service

staff_required = user_passes_test(lambda u: u.is_active and u.is_staff, login_url="login")


def join_url(request: HttpRequest, code: str) -> str:
    return request.build_absolute_uri(reverse("classroom:join") + f"?code={code}")


@staff_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Scenarios to load, classes to present, and a form to start a class."""
    return render(request, "classroom/index.html", _index_context())


def _index_context(**extra: Any) -> dict[str, Any]:
    return {
        "scenarios": Scenario.objects.all(),
        "classes": ClassSession.objects.filter(ended_at__isnull=True).select_related("scenario"),
        "save": {"slug": "", "name": "", "explanation": ""},
        **extra,
    }


@staff_required
@require_POST
def scenario_save(request: HttpRequest) -> HttpResponse:
    """Save the current topology as a new scenario (the form under the scenario list);
    a refusal shows the form again with its message next to the field at fault."""
    values = {key: request.POST.get(key, "") for key in ("slug", "name", "explanation")}
    try:
        saved = scenario_save_service(**values, user=request.user)
    except FlowdashError as exc:
        context = _index_context(
            save=values, save_error={"message": exc.message, "field": exc.field}
        )
        return render(request, "classroom/index.html", context, status=exc.status)
    what = ", ".join(
        f"{n} {word}{'' if n == 1 else 's'}"
        for word, n in (("topic", saved.topics), ("queue", saved.queues),
                        ("subscription", saved.subscriptions), ("worker setting", saved.workers))
        if n
    )  # fmt: skip
    messages.success(request, f"Saved the topology as {saved.scenario.name!r} ({what}).")
    for note in saved.notes:
        messages.warning(request, note)
    return redirect(reverse("classroom:index") + "#scenarios")


@staff_required
@require_POST
def class_start(request: HttpRequest) -> HttpResponse:
    slug = request.POST.get("scenario", "")
    scenario = Scenario.objects.filter(slug=slug).first() if slug else None
    class_session = class_services.class_session_start(
        user=request.user, title=request.POST.get("title", ""), scenario=scenario
    )
    url = reverse("classroom:present", kwargs={"code": class_session.join_code})
    # With a scenario chosen, the presenter page loads it and plays it at once, by the
    # same path as its Load button (it waits for the diagram before playing).
    return redirect(f"{url}?start=1" if scenario is not None else url)


@staff_required
@require_GET
@ensure_csrf_cookie
def present(request: HttpRequest, code: str) -> HttpResponse:
    """Full-screen: the live diagram, what to watch, the join code and QR, who joined."""
    try:
        class_session = selectors.class_session_get(code=code)
    except FlowdashError as exc:
        messages.error(request, exc.message)
        return redirect("classroom:index")
    url = join_url(request, class_session.join_code)
    context = {
        "class_session": class_session,
        "join_url": url,
        "qr": qr_svg(url, label=f"QR code for {url}"),
        "scenario": selectors.scenario_summary(scenario=class_session.scenario),
        "scenarios": Scenario.objects.all(),
        # Projector mode: large text, high contrast, the diagram filling the screen.
        "projector": request.GET.get("projector") == "1",
    }
    return render(request, "classroom/present.html", context)


@require_http_methods(["GET", "POST"])
@ensure_csrf_cookie
def join(request: HttpRequest) -> HttpResponse:
    """Enter the code and a display name; no account needed."""
    values = {"code": request.GET.get("code", ""), "display_name": ""}
    error: dict[str, Any] | None = None
    status = 200
    if request.method == "POST":
        values = {
            "code": request.POST.get("code", ""),
            "display_name": request.POST.get("display_name", ""),
        }
        if not request.session.session_key:
            request.session.create()
        try:
            participant = class_services.participant_join(
                code=values["code"], display_name=values["display_name"],
                session_key=request.session.session_key or "",
            )  # fmt: skip
        except FlowdashError as exc:
            error = {"message": exc.message, "field": exc.field}
            status = 404 if exc.status == 404 else 400
        else:
            request.session[PARTICIPANT_SESSION_KEY] = participant.pk
            return redirect("classroom:me")
    return render(request, "classroom/join.html", {"values": values, "error": error}, status=status)


@require_GET
@ensure_csrf_cookie
def me(request: HttpRequest) -> HttpResponse:
    """The phone page: publish to what the class allows, or work a queue."""
    participant = participant_from_session(request)
    if participant is None:
        return redirect("classroom:join")
    if participant.removed_at is not None or participant.class_session.ended:
        gone = REMOVED if participant.removed_at is not None else CLASS_ENDED
        return render(request, "classroom/gone.html", {"message": gone})
    return render(request, "classroom/me.html", {"participant": participant})


@require_POST
def leave(request: HttpRequest) -> HttpResponse:
    """Leave the class on this phone (the instructor's list keeps the name until removed)."""
    participant = participant_from_session(request)
    if participant is not None and participant.removed_at is None:
        class_services.participant_work_stop(participant=participant)
    request.session.pop(PARTICIPANT_SESSION_KEY, None)
    return redirect("classroom:join")
