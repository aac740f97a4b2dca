"""The first login: an instructor account made on first run."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model


def instructor_ensure() -> tuple[str, str | None]:
    """Create the instructor if missing. Returns the username and, only when the
    password was generated now, the password (shown once, stored only hashed)."""
    username = os.environ.get("FLOWDASH_INSTRUCTOR_USERNAME", "instructor")
    users = get_user_model()
    if users.objects.filter(username=username).exists():
        return username, None
    given = os.environ.get("FLOWDASH_INSTRUCTOR_PASSWORD")
    password = given or secrets.token_urlsafe(12)
    users.objects.create_superuser(username=username, email="", password=password)
    return username, None if given else password
