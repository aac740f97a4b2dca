"""The shipped scenarios: JSON files in ``scenarios/``, installed into the database.

The data migration installs them on ``migrate`` (so ``make run`` has them), and
``manage.py loadscenarios`` installs them again after the files change. Both go
through `scenarios_install`, which takes the model class so that the migration
can pass its historical model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .definition import definition_parse

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
FIELDS = ("name", "slug", "explanation", "definition", "position")


def scenario_files(directory: Path = SCENARIO_DIR) -> list[dict[str, Any]]:
    """Every shipped scenario, checked; a broken file stops the install with its name."""
    found = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        missing = [f for f in FIELDS if f not in data]
        if missing:
            raise ValueError(f"{path.name}: missing {', '.join(missing)}")
        definition_parse(data["definition"], slug=data["slug"])
        found.append({f: data[f] for f in FIELDS})
    return found


def scenarios_install(*, model: Any, replace: bool) -> list[str]:
    """Create the shipped scenarios; with ``replace``, overwrite edited copies too.

    Returns the slugs written.
    """
    written = []
    for data in scenario_files():
        values = {**{k: v for k, v in data.items() if k != "slug"}, "shipped": True}
        if replace:
            model.objects.update_or_create(slug=data["slug"], defaults=values)
        else:
            _, created = model.objects.get_or_create(slug=data["slug"], defaults=values)
            if not created:
                continue
        written.append(data["slug"])
    return written
