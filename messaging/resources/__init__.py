"""Topics and queues: create, read, delete, each idempotent where AWS is.

Every name goes through the resource prefix (``names``). Each AWS call costs a
request; the listings cost one request per resource (attributes are not in the
List* answers). Two answers are cached per connection (``cache``). Callers use
this package as one module (``resources.queue_create``, ``from messaging.resources
import Queue``); the modules split it by job only.
"""

from __future__ import annotations

from .cache import SETTING_TTL, ResourceCache, resource_cache
from .names import TAGS, TAP_MARK, arn_name, is_listed, ownership_check, qualified_name, url_name
from .queues import (
    DEFAULT_MAX_RECEIVE_COUNT,
    Depth,
    Queue,
    dead_letter_sources,
    queue_content_deduplication,
    queue_create,
    queue_delete,
    queue_from_attributes,
    queue_get,
    queue_list,
    queue_purge,
    queue_update,
    queue_url,
    queue_url_cached,
    queue_urls,
)
from .topics import (
    Topic,
    topic_arns,
    topic_content_deduplication,
    topic_create,
    topic_delete,
    topic_get,
    topic_list,
)

__all__ = [
    "DEFAULT_MAX_RECEIVE_COUNT",
    "SETTING_TTL",
    "TAGS",
    "TAP_MARK",
    "Depth",
    "Queue",
    "ResourceCache",
    "Topic",
    "arn_name",
    "dead_letter_sources",
    "is_listed",
    "ownership_check",
    "qualified_name",
    "queue_content_deduplication",
    "queue_create",
    "queue_delete",
    "queue_from_attributes",
    "queue_get",
    "queue_list",
    "queue_purge",
    "queue_update",
    "queue_url",
    "queue_url_cached",
    "queue_urls",
    "resource_cache",
    "topic_arns",
    "topic_content_deduplication",
    "topic_create",
    "topic_delete",
    "topic_get",
    "topic_list",
    "url_name",
]
