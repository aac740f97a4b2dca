"""Websocket routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.urls import path

from .consumers import FlowConsumer
from .participant_consumer import ParticipantConsumer

if TYPE_CHECKING:
    from channels.routing import URLRouter, _ExtendedURLPattern

#: For channels' URLRouter, which routes ASGI applications with Django's path():
#: path()'s stub takes views only, hence the ignore and the cast.
websocket_urlpatterns: list[_ExtendedURLPattern | URLRouter] = [
    cast("_ExtendedURLPattern", path("ws/flow/", FlowConsumer.as_asgi())),  # type: ignore[arg-type]
    cast("_ExtendedURLPattern", path("ws/class/", ParticipantConsumer.as_asgi())),  # type: ignore[arg-type]
]
