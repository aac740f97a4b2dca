"""Who may call the API: scripts with ``Authorization: Bearer <token>`` (a token from
``manage.py apitoken``), or the browser with its session (and CSRF)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from .. import selectors, services


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = selectors.api_token_get(token=token)
        if api_token is None:
            return None
        services.api_token_touch(api_token=api_token)
        request.user = api_token.user
        return api_token.user
