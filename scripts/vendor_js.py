"""Fetch the front end's vendored JavaScript at pinned versions into ``static/vendor/``.

Usage: ``python scripts/vendor_js.py`` (all packages) or ``python scripts/vendor_js.py cytoscape``.

Each package is fetched with ``npm pack <name>@<version>`` into a temporary
directory; npm checks the tarball against the registry's checksum, and this
script checks it once more against the ``integrity`` pinned below, so a
re-published or tampered tarball is refused. Only the listed files and the
licence are copied, byte for byte. ``tests/test_vendored.py`` asserts that the
version embedded in each vendored file matches its pin.

To bump a package: change ``version``, run the script once with
``--print-integrity`` to see the new tarball's integrity, paste it in, run the
script again, run the tests, and look at the page.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "static" / "vendor"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin:
    version: str
    #: npm's ``integrity`` (sha512) of the package tarball.
    integrity: str
    #: path inside the package -> path under static/vendor/<name>/
    files: dict[str, str]
    #: a regular expression whose first group is the version embedded in ``version_file``.
    version_pattern: str
    version_file: str


PINS: dict[str, Pin] = {
    "cytoscape": Pin(
        version="3.34.4",
        integrity="sha512-msY99tMY8iWTg+sIPGfSqDcPNOt4xcj+v/K/7qUFaCUxxlqnMkUYLBjRUzn9W5CU/R2hrmtJa5+UtovrEM2ctg==",
        files={
            "dist/cytoscape.esm.min.mjs": "cytoscape.esm.min.mjs",
            "LICENSE": "LICENSE",
        },
        version_pattern=r'\.version="([^"]+)"',
        version_file="cytoscape.esm.min.mjs",
    ),
}


def npm_pack(name: str, version: str, workdir: Path) -> tuple[Path, str]:
    """Download one package tarball; returns its path and npm's integrity string."""
    out = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", str(workdir)],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(out.stdout)[0]
    return workdir / info["filename"], info["integrity"]


def vendor(name: str, pin: Pin, *, print_integrity: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix=f"vendor-{name}-") as tmp:
        workdir = Path(tmp)
        tarball, integrity = npm_pack(name, pin.version, workdir)
        if print_integrity:
            print(f"{name}@{pin.version} integrity={integrity}")
            return
        if integrity != pin.integrity:
            raise SystemExit(
                f"{name}@{pin.version}: tarball integrity {integrity} does not match the pin "
                f"{pin.integrity}; refusing to vendor it."
            )
        with tarfile.open(tarball) as archive:
            archive.extractall(workdir / "x", filter="data")
        package = workdir / "x" / "package"
        target = VENDOR / name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for src, dest in pin.files.items():
            shutil.copyfile(package / src, target / dest)
        (target / "VERSION").write_text(f"{name}@{pin.version}\n{pin.integrity}\n")
        print(f"vendored {name}@{pin.version} into {target.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", help="default: every pinned package")
    parser.add_argument("--print-integrity", action="store_true")
    args = parser.parse_args(argv)
    names = args.packages or list(PINS)
    unknown = [n for n in names if n not in PINS]
    if unknown:
        parser.error(f"not pinned: {', '.join(unknown)}")
    for name in names:
        vendor(name, PINS[name], print_integrity=args.print_integrity)
    return 0


if __name__ == "__main__":
    sys.exit(main())
