"""A scenario's ``push`` section (mobile push in class, ``push_class``): checked with
the rest of the definition, kept apart from the models so the definition can use it.

    "push": {"topic": "<a topic the scenario declares>",
             "applications": [{"name": "<short name>", "platform": "GCM" | "APNS"}]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .jsonread import DefinitionError

PLATFORMS = ("GCM", "APNS")


@dataclass(frozen=True, slots=True, kw_only=True)
class PushSection:
    topic: str  #: the class topic's short name
    applications: dict[str, str]  #: platform -> application short name


def push_section_parse(data: Any) -> PushSection | None:
    """A definition's ``push`` section, checked; None when there is none."""
    if data is None:
        return None
    where = "Push"
    if not isinstance(data, dict) or set(data) - {"topic", "applications"}:
        raise DefinitionError(f"{where}: an object with 'topic' and 'applications'.")
    topic = data.get("topic")
    apps = data.get("applications")
    if not isinstance(topic, str) or not topic:
        raise DefinitionError(f"{where}: 'topic' names the class topic.")
    if not isinstance(apps, list) or not apps:
        raise DefinitionError(f"{where}: 'applications' lists at least one application.")
    found: dict[str, str] = {}
    for i, app in enumerate(apps):
        if (
            not isinstance(app, dict)
            or set(app) != {"name", "platform"}
            or app["platform"] not in PLATFORMS
            or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", str(app["name"]))
        ):
            raise DefinitionError(
                f"{where}: application {i} needs a 'name' (letters, digits, '-', '_') and a "
                f"'platform' ({' or '.join(PLATFORMS)})."
            )
        if app["platform"] in found:
            raise DefinitionError(f"{where}: one application per platform ({app['platform']}).")
        found[app["platform"]] = app["name"]
    return PushSection(topic=topic, applications=found)


def push_section_check(data: Any, *, topics: set[str]) -> None:
    """For ``definition_parse``: the section is well formed and its topic declared."""
    section = push_section_parse(data)
    if section is not None and section.topic not in topics:
        raise DefinitionError(f"Push: the topic {section.topic!r} is not declared in 'topics'.")
