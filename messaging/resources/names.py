"""Which names are Flowdash's: its resource prefix, its tap mark, names out of ARNs and URLs.

On real AWS Flowdash shares the account with other software, so it lists only
names under the prefix and refuses to change anything else.
"""

from __future__ import annotations

from ..connection import Connection
from ..errors import OutsidePrefix

#: Flowdash's own tap queues live under this mark and stay out of listings.
TAP_MARK = "fdtap-"
TAGS = {"managed-by": "flowdash"}


def arn_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def url_name(url: str) -> str:
    """A queue's name: the last part of its URL."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def qualified_name(conn: Connection, name: str) -> str:
    """The full AWS name: the prefix is added unless the user already typed it."""
    name = name.strip()
    return name if name.startswith(conn.prefix) else conn.prefix + name


def ownership_check(conn: Connection, name: str) -> None:
    if not name.startswith(conn.prefix):
        raise OutsidePrefix(
            f"{name!r} is not under Flowdash's resource prefix {conn.prefix!r}; "
            "Flowdash leaves it alone.",
            code="OutsidePrefix",
        )


def is_listed(conn: Connection, name: str) -> bool:
    return name.startswith(conn.prefix) and not name.startswith(conn.prefix + TAP_MARK)
