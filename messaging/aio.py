"""Blocking boto3 calls from asyncio code, on a bounded pool of daemon threads.

Long polls hold a thread for up to 20 s, so they must not share Django's single
``sync_to_async`` thread (which would stall every ORM call) nor the default
executor. The pool is sized for one long poll per worker and tap queue plus
headroom; calls beyond it wait their turn instead of spawning threads.

The threads are daemons: ``ThreadPoolExecutor`` joins its threads at exit, so
one long poll in progress would hold up Ctrl-C for 20 s. A poll cut short this
way loses nothing: any message it had received becomes visible again after its
visibility timeout.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial
from typing import Any, TypeVar

from .errors import aws_errors

T = TypeVar("T")

_STOP = object()


class DaemonExecutor(Executor):
    """A fixed-size pool of daemon threads (``Executor.submit`` is all asyncio needs)."""

    def __init__(self, max_threads: int, *, name: str) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True)
            for i in range(max_threads)
        ]
        self._started = False
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            if self._closed:
                raise RuntimeError("executor is shut down")
            if not self._started:
                for thread in self._threads:
                    thread.start()
                self._started = True
        future: Future[T] = Future()
        self._jobs.put((future, fn, args, kwargs))
        return future

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
        for _ in self._threads:
            self._jobs.put(_STOP)
        if wait and self._started:
            for thread in self._threads:
                thread.join()


def _call(fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    with aws_errors():
        return fn(**kwargs)


class AwsRunner:
    def __init__(self, *, max_threads: int = 64) -> None:
        self._executor = DaemonExecutor(max_threads, name="flowdash-aws")

    async def __call__(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(_call, fn, kwargs))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False)
