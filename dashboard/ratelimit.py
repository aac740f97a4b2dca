"""Token buckets kept in Django's cache: the one rate limiter for users and participants.

A rate is ``"<messages>/<seconds>"``: that many messages at once, refilled at
that rate (``"20/60"``: 20 at once, then one every 3 s). With the default
local-memory cache the buckets are per process, which fits the single-process
default; scaled out, the Redis cache shares them. Two requests racing on one
bucket may both pass: the limit keeps a class usable, it is not an accounting.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True, slots=True)
class Rate:
    capacity: int
    per_seconds: float

    @property
    def refill_per_second(self) -> float:
        return self.capacity / self.per_seconds


def rate_parse(text: str) -> Rate:
    """``"20/60"`` -> 20 messages per 60 seconds; raises ValueError for anything else."""
    count, _, seconds = text.partition("/")
    rate = Rate(capacity=int(count), per_seconds=float(seconds or 60))
    if rate.capacity < 1 or rate.per_seconds <= 0:
        raise ValueError(f"A rate must look like '20/60', not {text!r}")
    return rate


def participant_rate() -> Rate:
    return rate_parse(settings.FLOWDASH_PARTICIPANT_RATE)


def user_rate() -> Rate:
    return rate_parse(settings.FLOWDASH_PUBLISH_RATE)


def token_take(*, key: str, rate: Rate, now: float | None = None, count: int = 1) -> int:
    """Take ``count`` tokens (a batch is that many messages). Returns 0 when allowed,
    else the whole seconds until that many are free; a refused batch takes none.
    A batch larger than the whole bucket costs the whole bucket, or it could never pass."""
    now = time.time() if now is None else now
    cost = min(count, rate.capacity)
    tokens, at = cache.get(key) or (float(rate.capacity), now)
    tokens = min(float(rate.capacity), tokens + (now - at) * rate.refill_per_second)
    if tokens < cost:
        cache.set(key, (tokens, now), timeout=int(rate.per_seconds) + 1)
        return max(1, math.ceil((cost - tokens) / rate.refill_per_second))
    cache.set(key, (tokens - cost, now), timeout=int(rate.per_seconds) + 1)
    return 0
