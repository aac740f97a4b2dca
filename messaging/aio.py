"""Blocking boto3 calls from asyncio code, on a bounded pool of threads.

Long polls hold a thread for up to 20 s, so they must not share Django's single
``sync_to_async`` thread (which would stall every ORM call) nor the default
executor. The pool is sized for one long poll per worker and tap queue plus
headroom; calls beyond it wait their turn instead of spawning threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from .errors import aws_errors

T = TypeVar("T")


def _call(fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    with aws_errors():
        return fn(**kwargs)


class AwsRunner:
    def __init__(self, *, max_threads: int = 64) -> None:
        self._executor = ThreadPoolExecutor(max_threads, thread_name_prefix="flowdash-aws")

    async def __call__(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(_call, fn, kwargs))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
