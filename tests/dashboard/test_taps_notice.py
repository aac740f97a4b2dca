"""The flow page's notice of what Flowdash cannot see without taps.

Watched from outside with ``FLOWDASH_TAPS=off`` (or read-only), Flowdash adds nothing
to the account and sees depths only; the page must say so, and say nothing when taps
are on or when the embedded broker reports from inside (no taps needed at all).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.test import Client

from messaging.config import BackendConfig

pytestmark = pytest.mark.django_db

NOTICE = 'data-testid="untapped"'


def notice_shown(client: Client) -> bool:
    response = client.get("/")
    assert response.status_code == 200
    return NOTICE in response.content.decode()


def test_taps_off_shows_the_notice(client_in: Client, settings) -> None:
    settings.FLOWDASH_WATCHER = {**settings.FLOWDASH_WATCHER, "taps": False}
    assert notice_shown(client_in)


def test_read_only_shows_the_notice(client_in: Client, settings) -> None:
    settings.FLOWDASH_BACKEND = replace(settings.FLOWDASH_BACKEND, read_only=True)
    assert settings.FLOWDASH_WATCHER["taps"]
    assert notice_shown(client_in)


def test_taps_on_shows_no_notice(client_in: Client, settings) -> None:
    settings.FLOWDASH_WATCHER = {**settings.FLOWDASH_WATCHER, "taps": True}
    assert not notice_shown(client_in)


def test_watched_from_inside_there_is_nothing_to_miss(
    client_in: Client, settings, moto_url: str
) -> None:
    # The embedded backend, watched from inside: the broker reports every publication.
    settings.FLOWDASH_BACKEND = BackendConfig(
        backend="embedded", endpoint_url=moto_url, observer="inside"
    )
    settings.FLOWDASH_WATCHER = {**settings.FLOWDASH_WATCHER, "taps": False}
    assert not notice_shown(client_in)


def test_the_setting_is_read_from_the_environment(monkeypatch) -> None:
    """FLOWDASH_TAPS=off turns tapping off; anything else, or nothing, leaves it on."""
    import importlib

    import dashboard.settings as module

    for value, taps in (("off", False), ("0", False), ("OFF ", False), ("on", True), ("", True)):
        monkeypatch.setenv("FLOWDASH_TAPS", value)
        assert importlib.reload(module).FLOWDASH_WATCHER["taps"] is taps, value
    monkeypatch.delenv("FLOWDASH_TAPS")
    assert importlib.reload(module).FLOWDASH_WATCHER["taps"] is True
