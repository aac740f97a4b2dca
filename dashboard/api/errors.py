"""The API's one error shape, ``{"error": {"code", "message", "field"}}``, and the
handlers that give every failure that shape: Flowdash's own exceptions, ninja's
validation and auth errors, and, as a last resort, anything else.

Messages are constants where a test asserts them word for word.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from messaging.errors import BackendFailed, FlowdashError

#: One logger for the whole API, named as it was before the API became a package.
logger = logging.getLogger("dashboard.api")

#: What the last-resort handler says: the exception's own text may hold secrets.
UNEXPECTED_ERROR = "Flowdash failed unexpectedly; the server log has the details."
INVALID_JSON = "The request body is not valid JSON."
UNAUTHORIZED = "Log in, or send 'Authorization: Bearer <token>'."


class ErrorDetail(Schema):
    code: str
    message: str
    field: str | None = None


class ErrorOut(Schema):
    error: ErrorDetail


#: The error answers every operation declares beside its success.
ERRORS = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 429: ErrorOut,
          500: ErrorOut, 502: ErrorOut, 503: ErrorOut}  # fmt: skip


def error_response(
    api: NinjaAPI,
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
) -> HttpResponse:
    return api.create_response(
        request, {"error": {"code": code, "message": message, "field": field}}, status=status
    )


def flowdash_error(api: NinjaAPI, request: HttpRequest, exc: FlowdashError) -> HttpResponse:
    if isinstance(exc, BackendFailed):  # the backend's answer (the cause) is for the log only
        logger.warning("Backend failed: %s %s", request.method, request.path, exc_info=exc)
    return error_response(api, request, exc.status, exc.code, exc.message, exc.field)


def validation_error(api: NinjaAPI, request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    loc = [str(part) for part in first.get("loc", []) if part not in ("body", "payload", "query")]
    field = loc[0] if loc else None
    message = first.get("msg", "Invalid input")
    if first.get("type") == "json_invalid":
        message = INVALID_JSON
    return error_response(api, request, 400, "InvalidRequest", message, field)


def authentication_error(
    api: NinjaAPI, request: HttpRequest, exc: AuthenticationError
) -> HttpResponse:
    return error_response(api, request, 401, "Unauthorized", UNAUTHORIZED)


def http_error(api: NinjaAPI, request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        return error_response(api, request, 400, "InvalidJSON", INVALID_JSON)
    return error_response(api, request, exc.status_code, "HttpError", str(exc))


def unexpected_error(api: NinjaAPI, request: HttpRequest, exc: Exception) -> HttpResponse:
    """Last resort (replaces ninja's, which re-raises into Django's HTML 500 page): anything
    else that escapes a view, botocore's exceptions included, still gets the one shape."""
    # Django answers these with 403 and 400 itself; keep their status, not their text.
    if isinstance(exc, PermissionDenied):
        return error_response(api, request, 403, "Forbidden", "Permission denied.")
    if isinstance(exc, SuspiciousOperation):
        return error_response(api, request, 400, "BadRequest", "The request was refused.")
    logger.error("Unexpected error: %s %s", request.method, request.path, exc_info=exc)
    return error_response(api, request, 500, "InternalError", UNEXPECTED_ERROR)


#: Each handler with the exceptions it answers; ninja picks the closest by the MRO.
HANDLERS: dict[type[Exception], Callable[..., HttpResponse]] = {
    FlowdashError: flowdash_error,
    ValidationError: validation_error,
    AuthenticationError: authentication_error,
    HttpError: http_error,
    Exception: unexpected_error,
}


def exception_handlers_add(api: NinjaAPI) -> None:
    """Route every exception ``api``'s views raise through the one error shape."""
    for exc_class, handler in HANDLERS.items():
        api.add_exception_handler(exc_class, partial(handler, api))
