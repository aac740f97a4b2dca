"""The Definitions page: download the topology as one JSON file, upload one to import.

Importing takes two steps, as in RabbitMQ's management UI but with a look first:
the upload is checked and its plan shown (what will be created, what is there
already), and only "Import" creates anything. Between the two the document waits
in the user's (server-side) session, so the confirmation needs no second upload.
Each view makes one ``messaging.definitions`` call (``dashboard/views.py``'s rule).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from messaging.definitions import (
    DefinitionsInvalid,
    definitions_export,
    definitions_import,
    definitions_load,
)
from messaging.errors import FlowdashError

from . import permissions
from .backend import connection
from .views import role_required

#: Where an uploaded document waits for its confirmation.
SESSION_KEY = "definitions_upload"
#: The largest file the page takes (messages included); the API takes what Django does.
UPLOAD_MAX_BYTES = 10 * 1024 * 1024
UPLOAD_TOO_LARGE = "The file is larger than {mib} MiB; import it with manage.py definitions_import."
NOTHING_UPLOADED = "Upload the file again: the one you previewed is no longer waiting."

#: Instructors only, reading too: an export holds every message body.
staff_only = role_required(permissions.staff_check, methods=("GET", "POST"))


class UploadForm(forms.Form):
    file = forms.FileField(label="Definitions file (JSON)")


class ExportForm(forms.Form):
    messages = forms.BooleanField(
        required=False, label="Include messages (read without receiving, where the backend can)"
    )


@login_required
@staff_only
def definitions_page(request: HttpRequest) -> HttpResponse:
    """GET: the page. POST: check an upload and show what importing it would do."""
    form = UploadForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"export_form": ExportForm(), "form": form}
    if request.method != "POST":
        return render(request, "dashboard/definitions.html", context)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > UPLOAD_MAX_BYTES:
                raise DefinitionsInvalid(
                    [("", UPLOAD_TOO_LARGE.format(mib=UPLOAD_MAX_BYTES // (1024 * 1024)))]
                )
            document = definitions_load(data=upload.read())
            plan = definitions_import(connection(), document=document, dry_run=True)
        except DefinitionsInvalid as exc:
            context["problems"] = exc.problems
        except FlowdashError as exc:
            context["problems"] = [exc.message]
        else:
            request.session[SESSION_KEY] = {"name": upload.name, "text": json.dumps(document)}
            context.update(plan=plan, file_name=upload.name)
            return render(request, "dashboard/definitions.html", context)
    return render(request, "dashboard/definitions.html", context, status=400)


@login_required
@require_POST
@staff_only
def definitions_apply(request: HttpRequest) -> HttpResponse:
    """Import the document previewed last (it is checked again: the backend may have moved)."""
    waiting = request.session.pop(SESSION_KEY, None)
    if not waiting:
        messages.error(request, NOTHING_UPLOADED)
        return redirect("definitions")
    try:
        plan = definitions_import(connection(), document=json.loads(waiting["text"]))
    except FlowdashError as exc:
        messages.error(request, f"Nothing was imported: {exc.message}")
    else:
        messages.success(request, f"Imported {waiting['name']}: {plan.describe()}.")
    return redirect("definitions")


@login_required
@require_GET
@staff_only
def definitions_download(request: HttpRequest) -> HttpResponse:
    """The definitions as a JSON attachment (``?messages=1`` with the messages)."""
    with_messages = request.GET.get("messages", "") in ("1", "on", "true")
    try:
        document = definitions_export(connection(), messages=with_messages)
    except FlowdashError as exc:
        messages.error(request, f"Nothing was exported: {exc.message}")
        return redirect("definitions")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="flowdash-definitions-{stamp}.json"'
    return response
