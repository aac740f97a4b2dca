"""The flow's counters: the engine keeps cumulative counts since it started or since
the last reset; snapshots carry them (``counts``, ``counts_since``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from .. import permissions, services
from .errors import ERRORS

router = Router()


class CountersResetOut(Schema):
    reset: bool


@router.post("/counters/reset", response={202: CountersResetOut, **ERRORS}, tags=["flow"])
def counters_reset(request: HttpRequest) -> Any:
    """Start counting again from zero (staff only). Viewers resync and show the new
    "counts since"; the reset happens on the engine, so it answers 202."""
    permissions.staff_check(request.user)
    services.counters_reset()
    return Status(202, {"reset": True})
