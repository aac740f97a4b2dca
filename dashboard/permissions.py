"""Who may do what. Instructors (staff) change things; viewers (logged in, not
staff) watch, and publish only when an instructor allows it; anonymous users
see the login page. Checked in views and the API alike, so neither is a way
around the other."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

from messaging.errors import FlowdashError

STAFF_ONLY = "Only instructors (staff users) can do that."
PUBLISH_LOCKED = "Publishing is switched off for viewers; ask the instructor."


class Forbidden(FlowdashError):
    """The user is logged in but their role does not allow this."""

    status = 403


class RateLimited(FlowdashError):
    """Too many publishes in a short time from one user or participant."""

    status = 429


def staff_check(user: Any) -> None:
    if not (user.is_authenticated and user.is_staff):
        raise Forbidden(STAFF_ONLY, code="Forbidden")


def publish_check(user: Any) -> None:
    """Staff may always publish; viewers when the instructor switched it on."""
    from .models import SiteSettings

    if user.is_authenticated and user.is_staff:
        pass
    elif not (user.is_authenticated and SiteSettings.current().viewers_may_publish):
        raise Forbidden(PUBLISH_LOCKED, code="Forbidden")
    rate_limit_check(f"user:{user.pk}")


def rate_limit_check(key: str, *, rate: float | None = None, burst: int | None = None) -> None:
    """A token bucket per key in the cache (Redis when scaled out): ``rate`` publishes a
    second on average, ``burst`` at once."""
    rate = settings.FLOWDASH_PUBLISH_RATE if rate is None else rate
    burst = settings.FLOWDASH_PUBLISH_BURST if burst is None else burst
    now = time.time()  # wall clock: the bucket may be shared by processes (Redis cache)
    cache_key = f"flowdash:bucket:{key}"
    tokens, stamp = cache.get(cache_key, (float(burst), now))
    tokens = min(float(burst), tokens + (now - stamp) * rate)
    if tokens < 1:
        raise RateLimited(
            f"Slow down: at most {rate:g} messages a second (bursts of {burst}).",
            code="RateLimited",
        )
    cache.set(cache_key, (tokens - 1, now), timeout=max(60, int(burst / rate) + 1))
