"""Template context every page needs: which backend the user is looking at."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def backend(request: HttpRequest) -> dict[str, Any]:
    config = settings.FLOWDASH_BACKEND
    from .backend import connection

    # The endpoint is known only once the embedded server runs; don't start it for the login page.
    endpoint = connection().endpoint_url if request.user.is_authenticated else None
    return {
        "flowdash_backend": config.backend,
        "flowdash_endpoint": endpoint,
        "flowdash_region": config.region,
        "flowdash_prefix": config.resource_prefix,
    }
