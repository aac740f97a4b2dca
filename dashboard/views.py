"""Server-rendered resource pages. Each view validates a form, makes one
``messaging`` call, then redirects or re-renders with the error next to its field."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from messaging import inspection, publishing, resources, subscriptions
from messaging.engine import observation_mode
from messaging.errors import FlowdashError, ResourceNotFound
from messaging.topology import topology_get

from . import permissions, selectors
from .backend import connection, health
from .forms import (
    AttributeFormSet,
    FilterPolicyForm,
    PeekForm,
    PublishForm,
    QueueForm,
    SendForm,
    SubscriptionForm,
    TopicForm,
    add_flowdash_error,
    attributes_from,
)

ViewFunction = Callable[..., HttpResponse]


def role_required(
    check: Callable[[Any], None], *, methods: tuple[str, ...] = ("POST",)
) -> Callable[[ViewFunction], ViewFunction]:
    """Run a permissions check for the given methods; a refusal is a 403 with its reason."""

    def decorate(view: ViewFunction) -> ViewFunction:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method in methods:
                try:
                    check(request.user)
                except FlowdashError as exc:
                    raise PermissionDenied(exc.message) from exc
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


staff_required = role_required(permissions.staff_check)
publisher_required = role_required(permissions.publish_check)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The backend, and the flow engine: each supervised loop's state (running,
    restarting, stopped) and restarts, the frame relay's, and slow sockets closed."""
    from . import consumers, flowbus, relay

    engine = flowbus.engine_health()
    engine["loops"] = {**engine.get("loops", {}), **relay.relays_health()}
    engine["slow_sockets_closed"] = consumers.slow_closed
    return JsonResponse({"status": "ok", **health(), "engine": engine})


def _queue_choices() -> list[tuple[str, str]]:
    return [(q.arn, q.name) for q in resources.queue_list(connection())]


# Overview ----------------------------------------------------------------------------


@login_required
@require_GET
def flow(request: HttpRequest) -> HttpResponse:
    """The live flow diagram; its data arrives over the websocket (docs/protocol.md).
    Watched from outside without taps, the page says what it cannot see."""
    untapped = observation_mode(connection()) == "outside" and (
        not settings.FLOWDASH_WATCHER.get("taps", True) or settings.FLOWDASH_BACKEND.read_only
    )
    return render(request, "dashboard/flow.html", {"untapped": untapped})


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    topology = topology_get(connection())
    return render(request, "dashboard/overview.html", {"topology": topology})


@login_required
@require_GET
def trace_detail(request: HttpRequest, trace_id: str) -> HttpResponse:
    """One message's journey, from the stored flow events."""
    events = selectors.trace_get(trace_id=trace_id)
    return render(
        request, "dashboard/trace.html", {"trace_id": trace_id, "events": events},
        status=200 if events else 404,
    )  # fmt: skip


def admin_topology(request: HttpRequest) -> HttpResponse:
    """The live topology as Flowdash sees it, read-only. Resources belong to AWS, not
    to Django: mirroring them into tables would drift, so this page asks AWS each time."""
    from django.contrib import admin

    context = {
        **admin.site.each_context(request),
        "title": "Live topology",
        "topology": topology_get(connection()),
        "backend": connection().describe(),
    }
    return render(request, "admin/topology.html", context)


# Topics ------------------------------------------------------------------------------


@login_required
@staff_required
def topic_list(request: HttpRequest) -> HttpResponse:
    form = TopicForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                topic = resources.topic_create(connection(), **form.cleaned_data)
            except FlowdashError as exc:
                add_flowdash_error(form, exc)
            else:
                messages.success(request, f"Topic {topic.name} created.")
                return redirect("topic_detail", arn=topic.arn)
        status = 400
    topics = resources.topic_list(connection())
    return render(
        request, "dashboard/topic_list.html", {"topics": topics, "form": form}, status=status
    )


def _topic_page(request: HttpRequest, arn: str, status: int = 200, **forms: Any) -> HttpResponse:
    conn = connection()
    try:
        topic = resources.topic_get(conn, arn=arn)
    except ResourceNotFound:
        messages.error(request, "That topic does not exist (any more).")
        return redirect("topic_list")
    queue_choices = _queue_choices()
    context = {
        "topic": topic,
        "subscriptions": subscriptions.subscription_list(conn, topic_arn=arn),
        "subscribe_form": forms.get("subscribe_form")
        or SubscriptionForm(queue_choices=queue_choices),
        "publish_form": forms.get("publish_form") or PublishForm(),
        "attribute_formset": forms.get("attribute_formset") or AttributeFormSet(prefix="attr"),
        "published": forms.get("published"),
    }
    return render(request, "dashboard/topic_detail.html", context, status=status)


@login_required
@require_GET
def topic_detail(request: HttpRequest, arn: str) -> HttpResponse:
    return _topic_page(request, arn)


@login_required
@require_POST
@staff_required
def topic_delete(request: HttpRequest, arn: str) -> HttpResponse:
    try:
        resources.topic_delete(connection(), arn=arn)
    except FlowdashError as exc:
        messages.error(request, exc.message)
        return redirect("topic_detail", arn=arn)
    messages.success(request, f"Topic {resources.arn_name(arn)} deleted.")
    return redirect("topic_list")


@login_required
@require_POST
@staff_required
def topic_subscribe(request: HttpRequest, arn: str) -> HttpResponse:
    form = SubscriptionForm(request.POST, queue_choices=_queue_choices())
    if form.is_valid():
        data = form.cleaned_data
        try:
            subscriptions.subscription_create(
                connection(),
                topic_arn=arn,
                protocol=data["protocol"],
                endpoint=form.endpoint_value(),
                filter_policy=data["filter_policy"] or None,
                filter_policy_scope=data["filter_policy_scope"],
                raw_message_delivery=data["raw_message_delivery"],
            )
        except FlowdashError as exc:
            if exc.field == "endpoint" and data["protocol"] == "sqs":
                exc.field = "queue_arn"
            add_flowdash_error(form, exc)
        else:
            messages.success(request, "Subscribed.")
            return redirect("topic_detail", arn=arn)
    return _topic_page(request, arn, status=400, subscribe_form=form)


@login_required
@require_POST
@publisher_required
def topic_publish(request: HttpRequest, arn: str) -> HttpResponse:
    form = PublishForm(request.POST)
    formset = AttributeFormSet(request.POST, prefix="attr")
    if form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        try:
            result = publishing.topic_publish(
                connection(),
                topic_arn=arn,
                body=data["body"],
                subject=data["subject"] or None,
                attributes=attributes_from(formset),
                message_group_id=data["message_group_id"] or None,
                deduplication_id=data["deduplication_id"] or None,
            )
        except FlowdashError as exc:
            add_flowdash_error(form, exc)
        else:
            messages.success(request, f"Published message {result.message_id}.")
            return redirect("topic_detail", arn=arn)
    return _topic_page(request, arn, status=400, publish_form=form, attribute_formset=formset)


# Subscriptions -----------------------------------------------------------------------


@login_required
@staff_required
def subscription_detail(request: HttpRequest, arn: str) -> HttpResponse:
    conn = connection()
    try:
        sub = subscriptions.subscription_get(conn, arn=arn)
    except ResourceNotFound:
        messages.error(request, "That subscription does not exist (any more).")
        return redirect("topic_list")
    initial = {
        "filter_policy": sub.filter_policy or "",
        "filter_policy_scope": sub.filter_policy_scope,
        "raw_message_delivery": sub.raw_message_delivery,
    }
    form = FilterPolicyForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                subscriptions.subscription_update(conn, arn=arn, **form.cleaned_data)
            except FlowdashError as exc:
                add_flowdash_error(form, exc)
            else:
                messages.success(request, "Subscription updated.")
                return redirect("topic_detail", arn=sub.topic_arn)
        return render(
            request, "dashboard/subscription_detail.html", {"sub": sub, "form": form}, status=400
        )
    return render(request, "dashboard/subscription_detail.html", {"sub": sub, "form": form})


@login_required
@require_POST
@staff_required
def subscription_delete(request: HttpRequest, arn: str) -> HttpResponse:
    topic_arn = request.POST.get("topic_arn", "")
    try:
        subscriptions.subscription_delete(connection(), arn=arn)
    except FlowdashError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Unsubscribed.")
    if topic_arn:
        return redirect("topic_detail", arn=topic_arn)
    return redirect("topic_list")


# Queues ------------------------------------------------------------------------------


@login_required
@staff_required
def queue_list(request: HttpRequest) -> HttpResponse:
    queues = resources.queue_list(connection())
    choices = [(q.arn, q.name) for q in queues]
    form = QueueForm(request.POST or None, queue_choices=choices)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}
            try:
                queue = resources.queue_create(connection(), **data)
            except FlowdashError as exc:
                add_flowdash_error(form, exc)
            else:
                messages.success(request, f"Queue {queue.name} created.")
                return redirect("queue_detail", arn=queue.arn)
        status = 400
    return render(
        request, "dashboard/queue_list.html", {"queues": queues, "form": form}, status=status
    )


def _queue_page(request: HttpRequest, arn: str, status: int = 200, **extra: Any) -> HttpResponse:
    conn = connection()
    try:
        queue = resources.queue_get(conn, url=resources.queue_url(conn, arn=arn))
    except ResourceNotFound:
        messages.error(request, "That queue does not exist (any more).")
        return redirect("queue_list")
    context = {
        "queue": queue,
        "dead_letter_name": resources.arn_name(queue.dead_letter_arn or ""),
        "page_size": inspection.PAGE_SIZE,
        "inspector_kind": inspection.inspector_kind(conn),
        "receive_note": inspection.RECEIVE_NOTE,
        "dead_letter_sources": resources.dead_letter_sources(conn, queue=queue),
        "send_form": extra.get("send_form") or SendForm(),
        "attribute_formset": extra.get("attribute_formset") or AttributeFormSet(prefix="attr"),
        "peek_form": extra.get("peek_form") or PeekForm(),
        "received": extra.get("received"),
    }
    return render(request, "dashboard/queue_detail.html", context, status=status)


@login_required
@require_GET
def queue_detail(request: HttpRequest, arn: str) -> HttpResponse:
    return _queue_page(request, arn)


@login_required
@require_POST
@staff_required
def queue_delete(request: HttpRequest, arn: str) -> HttpResponse:
    conn = connection()
    try:
        resources.queue_delete(conn, url=resources.queue_url(conn, arn=arn))
    except FlowdashError as exc:
        messages.error(request, exc.message)
        return redirect("queue_detail", arn=arn)
    messages.success(request, f"Queue {resources.arn_name(arn)} deleted.")
    return redirect("queue_list")


@login_required
@require_POST
@staff_required
def queue_purge(request: HttpRequest, arn: str) -> HttpResponse:
    conn = connection()
    try:
        resources.queue_purge(conn, url=resources.queue_url(conn, arn=arn))
    except FlowdashError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Queue purged.")
    return redirect("queue_detail", arn=arn)


@login_required
@require_POST
@publisher_required
def queue_send(request: HttpRequest, arn: str) -> HttpResponse:
    form = SendForm(request.POST)
    formset = AttributeFormSet(request.POST, prefix="attr")
    if form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        conn = connection()
        try:
            result = publishing.queue_send(
                conn,
                queue_url=resources.queue_url(conn, arn=arn),
                body=data["body"],
                attributes=attributes_from(formset),
                delay_seconds=data["delay_seconds"],
                message_group_id=data["message_group_id"] or None,
                deduplication_id=data["deduplication_id"] or None,
            )
        except FlowdashError as exc:
            add_flowdash_error(form, exc)
        else:
            messages.success(request, f"Sent message {result.message_id}.")
            return redirect("queue_detail", arn=arn)
    return _queue_page(request, arn, status=400, send_form=form, attribute_formset=formset)


@login_required
@require_POST
@staff_required
def queue_peek(request: HttpRequest, arn: str) -> HttpResponse:
    form = PeekForm(request.POST)
    if not form.is_valid():
        return _queue_page(request, arn, status=400, peek_form=form)
    conn = connection()
    try:
        received = publishing.queue_receive(
            conn, queue_url=resources.queue_url(conn, arn=arn), **form.cleaned_data
        )
    except FlowdashError as exc:
        add_flowdash_error(form, exc)
        return _queue_page(request, arn, status=400, peek_form=form)
    return _queue_page(request, arn, peek_form=form, received=received)


@login_required
@require_POST
@staff_required
def message_action(request: HttpRequest, arn: str, action: str) -> HttpResponse:
    conn = connection()
    handle = request.POST.get("receipt_handle", "")
    operation = publishing.message_delete if action == "delete" else publishing.message_release
    try:
        operation(conn, queue_url=resources.queue_url(conn, arn=arn), receipt_handle=handle)
    except FlowdashError as exc:
        messages.error(request, exc.message)
    else:
        done = "deleted" if action == "delete" else "returned to the queue"
        messages.success(request, f"Message {done}.")
    return redirect(reverse("queue_detail", kwargs={"arn": arn}))
