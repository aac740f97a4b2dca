"""The meta-test: every flow event type has a contract test (house style 17)."""

from __future__ import annotations

from messaging.events import EVENT_TYPES

from . import test_events  # registers its tests' ``covers``
from .verify import COVERED, COVERED_RESOURCE_CHANGES

#: The ``resource_changed`` (kind, action) pairs the protocol and the broker produce.
RESOURCE_CHANGES = {
    *((kind, action) for kind in ("topic", "queue", "subscription")
      for action in ("created", "changed", "deleted")),
    ("queue", "purged"),
    *((kind, action) for kind, actions in (
        ("application", ("created", "deleted")), ("endpoint", ("created", "changed", "deleted")),
    ) for action in actions),
    ("workers", "changed"),
    ("flow", "resync"),
}  # fmt: skip


def _passing(tests: list[str]) -> list[str]:
    """The tests that count: a test expected to fail (a known bug) covers nothing yet."""
    return [
        name
        for name in tests
        if not any(m.name == "xfail" for m in getattr(getattr(test_events, name), "pytestmark", []))
    ]


def test_every_event_type_has_a_contract_test() -> None:
    covered = {t for t, tests in COVERED.items() if _passing(tests)}
    uncovered = sorted(set(EVENT_TYPES) - covered)
    assert not uncovered, (
        f"flow event types with no contract test: {uncovered}. Add a test decorated "
        "@covers(<type>) to tests/contract/test_events.py that makes it happen for real "
        "and checks it with Flow.verify."
    )


def test_every_resource_change_has_a_contract_test() -> None:
    covered = {c for c, tests in COVERED_RESOURCE_CHANGES.items() if _passing(tests)}
    uncovered = sorted(RESOURCE_CHANGES - covered)
    assert not uncovered, f"resource_changed (kind, action) with no contract test: {uncovered}"
