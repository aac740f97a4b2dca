"""The vendored JavaScript is exactly what scripts/vendor_js.py pins, licence included."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _vendor_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vendor_js", ROOT / "scripts" / "vendor_js.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


VENDOR_JS = _vendor_script()
PINS = VENDOR_JS.PINS


@pytest.mark.parametrize("name", sorted(PINS))
def test_embedded_version_matches_the_pin(name: str) -> None:
    pin = PINS[name]
    text = (VENDOR_JS.VENDOR / name / pin.version_file).read_text(encoding="utf-8")
    found = set(re.findall(pin.version_pattern, text))
    assert found == {pin.version}, f"{name}: file says {found}, pin says {pin.version}"


@pytest.mark.parametrize("name", sorted(PINS))
def test_every_pinned_file_and_the_licence_are_vendored(name: str) -> None:
    pin = PINS[name]
    folder = VENDOR_JS.VENDOR / name
    for dest in pin.files.values():
        assert (folder / dest).is_file(), f"{name}: {dest} missing; run scripts/vendor_js.py"
    assert "LICENSE" in pin.files.values()
    assert (folder / "VERSION").read_text().split() == [f"{name}@{pin.version}", pin.integrity]


def test_nothing_is_vendored_without_a_pin() -> None:
    folders = {p.name for p in VENDOR_JS.VENDOR.iterdir() if p.is_dir()}
    assert folders == set(PINS)


def test_the_page_imports_the_vendored_build() -> None:
    diagram = (ROOT / "static" / "js" / "diagram.js").read_text(encoding="utf-8")
    assert 'from "../vendor/cytoscape/cytoscape.esm.min.mjs"' in diagram
