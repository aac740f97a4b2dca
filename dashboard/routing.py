"""Websocket routes."""

from __future__ import annotations

from django.urls import path

from .consumers import FlowConsumer

websocket_urlpatterns = [path("ws/flow/", FlowConsumer.as_asgi())]
