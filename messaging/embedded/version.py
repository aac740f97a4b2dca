"""The one list of moto versions whose internals the embedded modules were read against."""

from __future__ import annotations

import importlib.metadata
import logging

logger = logging.getLogger(__name__)

#: moto versions whose internals ``messaging.embedded`` was read against and tested on.
SUPPORTED_MOTO_VERSIONS = frozenset({"5.2.5"})

_warned: set[tuple[str, str]] = set()


def moto_version() -> str:
    try:
        return importlib.metadata.version("moto")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def moto_supported(feature: str) -> bool:
    """Whether the installed moto is one the embedded modules know; warns once per
    feature when it is not, naming what runs without it."""
    version = moto_version()
    if version in SUPPORTED_MOTO_VERSIONS:
        return True
    if (feature, version) not in _warned:
        _warned.add((feature, version))
        logger.warning(
            "moto %s is not one Flowdash's %s was checked against (%s): running without it",
            version,
            feature,
            ", ".join(sorted(SUPPORTED_MOTO_VERSIONS)),
        )
    return False
