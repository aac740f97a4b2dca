"""Join codes as QR codes: SVG, made locally by the qrcode library (no network, no PIL)."""

from __future__ import annotations

import re

import qrcode
from qrcode.image.svg import SvgPathImage

_SIZE_ATTRS = re.compile(r'^<svg width="[^"]*" height="[^"]*"')


def qr_svg(text: str, *, label: str) -> str:
    """An inline ``<svg>`` for ``text`` that CSS can size (the library writes millimetres).

    ``text`` is a URL Flowdash built itself; the result is markup Flowdash generated,
    safe to insert into the page as is.
    """
    image = qrcode.make(text, image_factory=SvgPathImage, box_size=10, border=2)
    svg = image.to_string(encoding="unicode")
    title = label.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    return _SIZE_ATTRS.sub(f'<svg class="qr" role="img" aria-label="{title}"', svg, count=1)
