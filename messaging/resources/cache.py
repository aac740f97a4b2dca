"""Answers about a resource that AWS gives the same way every time, cached per connection.

Two answers are cached, because the send path would otherwise ask for them on
every message, as an AWS user's script would not: queue URLs (Flowdash's API
names queues by ARN; a GetQueueUrl per send doubled the cost of a send through
the API) and FIFO content-based deduplication (a Get*Attributes per FIFO publish
without a deduplication id). Both are forgotten when Flowdash deletes the
resource, and by a caller that finds them wrong. The lookups that fill the cache
live beside their resource (``queues.queue_url_cached``,
``topics.topic_content_deduplication``).
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from typing import Any

from ..connection import Connection

#: How long a cached FIFO setting is trusted: SetTopicAttributes or SetQueueAttributes
#: outside Flowdash can change content-based deduplication without telling us.
SETTING_TTL = 30.0


class ResourceCache:
    """Answers about a resource that AWS would give the same way every time, per connection.

    Keyed by connection (weakly, so a new backend, or a test's fresh moto server, never
    sees another one's answers) and by ``(kind, resource)``. An entry lives until its
    resource is deleted through Flowdash or a caller finds it wrong and forgets it;
    ``ttl`` bounds entries that could change outside Flowdash.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: weakref.WeakKeyDictionary[
            Connection, dict[tuple[str, str], tuple[Any, float]]
        ] = weakref.WeakKeyDictionary()

    def get(self, conn: Connection, kind: str, resource: str) -> Any | None:
        with self._lock:
            value, expires = self._data.get(conn, {}).get((kind, resource), (None, 0.0))
        return value if expires > time.monotonic() else None

    def put(
        self, conn: Connection, kind: str, resource: str, value: Any, ttl: float = math.inf
    ) -> None:
        with self._lock:
            self._data.setdefault(conn, {})[(kind, resource)] = (value, time.monotonic() + ttl)

    def forget(self, conn: Connection, *resources: str) -> None:
        """Drop every entry about these resources (as key or as cached value)."""
        gone = set(resources)
        with self._lock:
            entries = self._data.get(conn)
            for key, (value, _) in list((entries or {}).items()):
                if key[1] in gone or value in gone:
                    del entries[key]  # type: ignore[union-attr]


resource_cache = ResourceCache()
