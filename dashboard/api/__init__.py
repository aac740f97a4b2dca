"""The JSON API: the same operations as the pages, for scripts and the browser.

Resources are addressed by ARN, as AWS does. Session auth (with CSRF) serves
the browser; scripts send ``Authorization: Bearer <token>`` with a token from
``manage.py apitoken`` (``auth``). Every error has one shape, ``{"error": {"code",
"message", "field"}}``, produced by the handlers in ``errors``. Each module holds
the operations on one kind of thing and mounts them as a router here.
"""

from __future__ import annotations

from ninja import NinjaAPI
from ninja.operation import Operation
from ninja.security import django_auth

from . import flow, inspection, publishing, push, queues, receiving, subscriptions, topics
from .auth import TokenAuth
from .errors import exception_handlers_add


class FlowdashAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        """``dashboard_api_<view>`` for every operation of this package, as when the API
        was one module: clients generated from the OpenAPI document name their methods
        after these ids, so splitting the module must not rename them."""
        if operation.view_func.__module__.startswith(f"{__name__}."):
            return f"{__name__}_{operation.view_func.__name__}".replace(".", "_")
        return super().get_openapi_operation_id(operation)


api = FlowdashAPI(
    title="Flowdash API",
    version="1",
    description="Manage SNS topics, SQS queues and subscriptions; publish, send and receive.",
    auth=[TokenAuth(), django_auth],
    urls_namespace="api",
)

for module in (flow, topics, queues, publishing, receiving, subscriptions, inspection, push):
    api.add_router("", module.router)
api.add_router("", "dashboard.api.definitions.router")
api.add_router("", "dashboard.api.counters.router")
api.add_router("/classroom/", "dashboard.classroom.api.router")
api.add_router("/classroom/", "dashboard.classroom.push_api.router")
exception_handlers_add(api)
