"""Supervision for the engine's long-running tasks: none ends silently, none leaks.

Every loop the engine runs (the watcher, a tap per topic, a depth sampler per
queue, the workers, and the flow bus's frame, persist and command loops) runs
under one `Supervisor`:

- a loop that raises is logged with its traceback, reported to the supervisor's
  listeners (the engine turns that into an ``error`` flow event whose ``source``
  is the loop's name), and started again after a backoff (0.5 s doubling to
  30 s; back to 0.5 s once a run lasted ``healthy_after`` seconds);
- a loop that returns has finished its job (a worker whose queue went away) and
  is not restarted; a loop cancelled by its owner is simply gone;
- every task it started, loops and one-off tasks alike (a batch's delete, a
  burst), is tracked, and `stop` cancels them all and waits for them.

`status` is what ``/healthz`` shows: each loop's state (``running``,
``restarting``, ``stopped``) and how often it was restarted. It copies under the
GIL only, so another thread (a sync view) may call it.

No Django here: ``messaging`` runs from a plain script too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

RUNNING = "running"
RESTARTING = "restarting"
STOPPED = "stopped"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopFailure:
    """A supervised loop (or background task) raised."""

    key: str  #: unique among the supervisor's loops, e.g. ``worker orders#1``
    name: str  #: what kind of loop: ``watcher``, ``tap``, ``worker``, ``flowbus.frames``
    resource: str | None
    error: BaseException
    restarts: int
    #: Seconds until the loop runs again; None for a one-off task (not restarted).
    retry_in: float | None

    @property
    def message(self) -> str:
        what = f"{type(self.error).__name__}: {self.error}"
        if self.retry_in is None:
            return f"{self.name} failed ({what})."
        return f"{self.name} failed ({what}); restarting in {self.retry_in:.1f} s."


@dataclass(slots=True)
class LoopStatus:
    name: str
    resource: str | None
    state: str = RUNNING
    restarts: int = 0
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "resource": self.resource,
            "state": self.state,
            "restarts": self.restarts,
            "last_error": self.last_error,
        }


FailureListener = Callable[[LoopFailure], None]


class Supervisor:
    def __init__(
        self,
        *,
        backoff_first: float = 0.5,
        backoff_max: float = 30.0,
        healthy_after: float = 30.0,
    ) -> None:
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.healthy_after = healthy_after
        self._loops: dict[str, LoopStatus] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listeners: list[FailureListener] = []
        self.stopped = False

    # --- starting things

    def on_failure(self, listener: FailureListener) -> None:
        self._listeners.append(listener)

    def loop(
        self,
        name: str,
        body: Callable[[], Awaitable[None]],
        *,
        resource: str | None = None,
        key: str | None = None,
    ) -> asyncio.Task[None]:
        """Run ``body()`` until it returns or is cancelled, restarting it when it raises.

        ``body`` is called afresh for each run. Cancelling the returned task stops the
        loop for good (its owner no longer wants it).
        """
        key = key or (f"{name} {resource}" if resource else name)
        status = LoopStatus(
            name=name, resource=resource, state=STOPPED if self.stopped else RUNNING
        )
        self._loops[key] = status
        return self._track(self._supervise(key, status, body), name=key)

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        """Run a one-off task whose owner awaits it (and handles what it raises);
        tracked so that `stop` cancels it even when its owner is gone."""
        return self._track(coro, name=name)

    def background(
        self, coro: Coroutine[Any, Any, Any], *, name: str, resource: str | None = None
    ) -> asyncio.Task[None]:
        """Run a fire-and-forget task (nobody awaits it): a failure is logged and reported."""

        async def run() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("background task %s failed", name, exc_info=exc)
                self._report(
                    LoopFailure(
                        key=name, name=name, resource=resource, error=exc, restarts=0,
                        retry_in=None,
                    )
                )  # fmt: skip

        return self._track(run(), name=name)

    # --- reading

    def status(self) -> dict[str, dict[str, Any]]:
        """Each loop's state and restart count, by key (safe from another thread)."""
        return {key: status.to_dict() for key, status in dict(self._loops).items()}

    @property
    def degraded(self) -> bool:
        return any(s.state == RESTARTING for s in dict(self._loops).values())

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        """Every task started and not yet finished."""
        return frozenset(self._tasks)

    # --- stopping

    async def stop(self) -> None:
        """Cancel every task started, and wait until they have all finished."""
        self.stopped = True
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for status in self._loops.values():
            status.state = STOPPED

    # --- internals

    def _track(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        if self.stopped:
            task.cancel()  # started while stopping (a loop's cleanup): never runs
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        # A spawned task whose owner was cancelled before awaiting it: say what it
        # raised here rather than as "exception was never retrieved" at exit.
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.debug("task %s ended with %r", task.get_name(), exc)

    async def _supervise(
        self, key: str, status: LoopStatus, body: Callable[[], Awaitable[None]]
    ) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        try:
            while True:
                status.state = RUNNING
                started = loop.time()
                try:
                    await body()
                    return  # its work is done
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if loop.time() - started >= self.healthy_after:
                        attempt = 0
                    delay = min(self.backoff_max, self.backoff_first * 2**attempt)
                    attempt += 1
                    status.state = RESTARTING
                    status.restarts += 1
                    status.last_error = f"{type(exc).__name__}: {exc}"
                    logger.error("loop %s failed; restarting in %.1f s", key, delay, exc_info=exc)
                    self._report(
                        LoopFailure(
                            key=key, name=status.name, resource=status.resource, error=exc,
                            restarts=status.restarts, retry_in=delay,
                        )
                    )  # fmt: skip
                    await asyncio.sleep(delay)
        finally:
            status.state = STOPPED
            if not self.stopped and self._loops.get(key) is status:
                # Ended or cancelled by its owner: no longer one of the loops.
                del self._loops[key]

    def _report(self, failure: LoopFailure) -> None:
        for listener in list(self._listeners):
            try:
                listener(failure)
            except Exception:
                logger.exception("reporting the failure of %s failed", failure.key)
