"""Flowdash's own HTTP endpoint for SNS: subscribe ``<FLOWDASH_PUBLIC_URL>/hooks/sns/``
to a topic and every delivery shows up in Flowdash, no outside server needed.

It is an async view on purpose. The embedded moto server POSTs to HTTP
subscribers from inside the Publish call; a Publish made by a sync view holds
Django's one sync thread, so a sync receiver would wait for that thread while
the Publish waits for the receiver. Database writes run on their own thread
(``thread_sensitive=False``) for the same reason.

SNS subscription confirmations are answered by fetching the SubscribeURL, but
only from SNS itself or the configured endpoint: the URL comes from the caller,
so Flowdash must not fetch arbitrary addresses for it.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .backend import connection
from .models import HttpDelivery

logger = logging.getLogger(__name__)

KEEP = 500
MAX_BODY = 300 * 1024


@csrf_exempt
async def sns_receiver(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"error": "POST SNS messages here."}, status=405)
    if len(request.body) > MAX_BODY:
        return JsonResponse({"error": "Too large for an SNS message."}, status=413)
    try:
        message: Any = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "Not JSON."}, status=400)
    if not isinstance(message, dict) or not isinstance(message.get("Type"), str):
        return JsonResponse({"error": "Not an SNS message."}, status=400)
    topic_arn = str(message.get("TopicArn", ""))
    if not topic_arn.rsplit(":", 1)[-1].startswith(connection().prefix):
        return JsonResponse({"error": "Not one of Flowdash's topics."}, status=403)
    confirmed = False
    if message["Type"] == "SubscriptionConfirmation":
        confirmed = await sync_to_async(_confirm, thread_sensitive=False)(
            str(message.get("SubscribeURL", ""))
        )
    await sync_to_async(_store, thread_sensitive=False)(message, confirmed)
    return JsonResponse({"ok": True})


def _confirm(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    endpoint_host = urlsplit(connection().endpoint_url or "").hostname
    if not (host.endswith(".amazonaws.com") or (endpoint_host and host == endpoint_host)):
        logger.warning("not confirming a subscription through unexpected host %s", host)
        return False
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError as exc:
        logger.warning("subscription confirmation failed: %s", exc)
        return False


def _store(message: dict[str, Any], confirmed: bool) -> None:
    HttpDelivery.objects.create(
        message_type=message["Type"][:40],
        message_id=str(message.get("MessageId", ""))[:100],
        topic_arn=str(message.get("TopicArn", ""))[:300],
        subject=str(message.get("Subject") or "")[:200],
        body=str(message.get("Message", "")),
        confirmed=confirmed,
    )
    stale = HttpDelivery.objects.order_by("-id").values_list("id", flat=True)[KEEP : KEEP + 1]
    if stale:
        HttpDelivery.objects.filter(id__lte=stale[0]).delete()
