"""Who may do what. Instructors (staff) change things; viewers (logged in, not
staff) watch, and publish only when an instructor allows it; anonymous users
see the login page. Checked in views and the API alike, so neither is a way
around the other."""

from __future__ import annotations

from typing import Any

from messaging.errors import FlowdashError

from .ratelimit import token_take, user_rate

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


def publish_check(user: Any, *, count: int = 1) -> None:
    """Staff may always publish; viewers when the instructor switched it on. ``count``
    is how many messages the request carries (a batch takes that many from the bucket)."""
    from .models import SiteSettings

    if user.is_authenticated and user.is_staff:
        pass
    elif not (user.is_authenticated and SiteSettings.current().viewers_may_publish):
        raise Forbidden(PUBLISH_LOCKED, code="Forbidden")
    rate_limit_check(f"user:{user.pk}", count=count)


def rate_limit_check(key: str, *, count: int = 1) -> None:
    """``count`` tokens from the user's bucket (``FLOWDASH_PUBLISH_RATE``), or a 429."""
    rate = user_rate()
    wait = token_take(key=f"flowdash:rate:{key}", rate=rate, count=count)
    if wait:
        raise RateLimited(
            f"Slow down: at most {rate.capacity} messages per {rate.per_seconds:g} s; "
            f"try again in {wait} s.",
            code="RateLimited",
        )
