"""The flow engine: the watcher, the workers and the correlator, run together.

One engine runs per deployment: inside the Daphne process by default, or in
``manage.py flowwatch`` when scaled out. It owns the only `FlowEmitter`, so
sequence numbers are global. Everything it sees leaves as flow events through
the emitter's listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from .aio import AwsRunner
from .burst import Burst, burst_run
from .connection import Connection
from .correlation import Correlator
from .errors import FlowdashError
from .events import Error, FlowEmitter, ResourceChanged
from .observer import EmbeddedObserver
from .supervisor import LoopFailure, Supervisor
from .topology import Topology, TopologyIndex, push_changes
from .watcher import TAP_REMOVE_SECONDS, Watcher
from .workers import WorkerPool, WorkerSpec


def observation_mode(conn: Connection) -> str:
    """ "inside" where the embedded broker reports every operation itself, else
    "outside" (taps and samples). ``FLOWDASH_OBSERVER=outside`` runs the embedded
    backend through the outside path too, so both are tested on the same moto."""
    if conn.config.backend != "embedded" or conn.config.observer != "inside":
        return "outside"
    from .embedded.broker import broker_active

    return "inside" if broker_active() else "outside"


class FlowEngine:
    def __init__(
        self,
        conn: Connection,
        emitter: FlowEmitter,
        *,
        watcher_options: dict[str, Any] | None = None,
    ) -> None:
        self.conn = conn
        self.emitter = emitter
        self.run = AwsRunner()
        #: Runs and tracks every long-running task of the engine (messaging.supervisor);
        #: a loop that fails is restarted and shows as an ``error`` event.
        self.supervisor = Supervisor()
        self.supervisor.on_failure(self._loop_failed)
        self.correlator = Correlator(emitter)
        #: "inside" when the embedded broker reports (messaging.observer), else "outside".
        self.observation = observation_mode(conn)
        inside = self.observation == "inside"
        self.watcher = Watcher(
            conn, emitter, self.correlator, self.run, **(watcher_options or {}), outside=not inside,
            supervisor=self.supervisor,
        )  # fmt: skip
        self.workers = WorkerPool(
            conn, emitter, self.correlator, self.run, on_activity=self.watcher.depth_soon,
            dead_letters_observed=inside, supervisor=self.supervisor,
        )  # fmt: skip
        self.observer: EmbeddedObserver | None = None
        if inside:
            from .embedded.broker import queue_depth, queue_expire

            self.observer = EmbeddedObserver(
                emitter, self.correlator, depth_read=queue_depth, expire=queue_expire,
                depths=self.watcher.depths,
                on_resource=self.watcher.refresh_soon,
                generation=lambda: self.watcher.generation, consumers=self.workers.stats,
            )  # fmt: skip
            observer = self.observer
            self.correlator.catch_up = observer.drain
            self.watcher.on_refresh(
                lambda index: observer.topology_read(self.watcher.generation, list(index.queues))
            )
        self._wanted: dict[str, WorkerSpec] = {}
        self._task: asyncio.Task[None] | None = None
        self._bursts: set[asyncio.Task[None]] = set()
        self.watcher.on_refresh(self._apply_workers)
        #: The push topology the outside path last announced (None before the first read).
        self._push_seen: Topology | None = None
        if not inside:
            self.watcher.on_refresh(self._push_announce)

    async def start(self, *, within: float = 15.0) -> None:
        """Start watching; returns once the topology is read and the topics are tapped.

        A start that fails (the backend is unreachable for ``within`` seconds) stops
        everything it began before raising: the engine is then spent.
        """
        try:
            if self.observer is not None:
                from .embedded.broker import sink_set

                # Before the first topology read: nothing done meanwhile goes unreported.
                self.observer.attach(asyncio.get_running_loop())
                sink_set(self.observer.offer)
            if self._task is None:
                self._task = self.supervisor.loop("watcher", self.watcher.run_forever)
            async with asyncio.timeout(within):
                await self.watcher.ready.wait()
                await self.watcher.taps_ready()
        except BaseException:
            await self.stop()
            raise

    def _loop_failed(self, failure: LoopFailure) -> None:
        """A supervised loop raised: viewers see it as an ``error`` event (source: the loop)."""
        self.emitter.emit(
            Error, source=failure.name, message=failure.message,
            code=type(failure.error).__name__, resource=failure.resource,
        )  # fmt: skip

    def burst_start(self, burst: Burst) -> None:
        """Send a burst in the background; a failure becomes an ``error`` event."""
        burst.validate()
        task = self.supervisor.background(
            self._burst(burst), name="burst", resource=burst.topic_arn or burst.queue_url
        )
        self._bursts.add(task)
        task.add_done_callback(self._bursts.discard)

    async def _burst(self, burst: Burst) -> None:
        try:
            await burst_run(self.conn, self.run, burst)
        except FlowdashError as exc:
            self.emitter.emit(
                Error, source="burst", message=exc.message, code=exc.code,
                resource=burst.topic_arn or burst.queue_url,
            )  # fmt: skip

    async def stop(self) -> None:
        for task in list(self._bursts):
            task.cancel()
        await self.workers.stop_all()
        if self.observer is not None:
            from .embedded.broker import sink_set

            sink_set(None)
            self.observer.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        # Flowdash stops watching: its taps go (a killed Flowdash's, at the next start).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(TAP_REMOVE_SECONDS):
                await self.watcher.taps_remove()
        await self.supervisor.stop()  # whatever else it started: taps, samplers, deletes
        self.run.shutdown()

    def refresh_soon(self) -> None:
        self.watcher.refresh_soon()

    def workers_set(self, queue_arn: str, spec: WorkerSpec) -> None:
        """Ask for workers on a queue; they start once the watcher knows the queue."""
        if spec.count:
            self.conn.write_check()  # workers delete messages
        self._wanted[queue_arn] = spec.validate()
        if queue_arn in self.correlator.index.queues:
            self.workers.set(queue_arn, spec)
        else:
            self.watcher.refresh_soon()
        self.emitter.emit(ResourceChanged, kind="workers", action="changed", arn=queue_arn)

    def sent_note(self, *, queue_url: str, messages: Sequence[Mapping[str, str]]) -> None:
        """Flowdash sent straight to a queue (``message_id`` and ``body`` of each): show
        them now, before any worker receives them. The embedded observer already has."""
        if self.observer is not None:
            return
        queue = next((q for q in self.correlator.index.queues.values() if q.url == queue_url), None)
        if queue is None:
            return
        for sent in messages:
            self.correlator.direct_observe(
                trace_id=sent["message_id"], queue_arn=queue.arn, body=sent["body"],
                source="flowdash",
            )  # fmt: skip
        self.watcher.depth_soon(queue.arn)

    def push_published_note(self, *, message_id: str, message: str) -> None:
        """Flowdash published per platform: on the outside path the correlator shows each
        device its platform's payload (the embedded observer reads the broker's)."""
        if self.observer is None:
            self.correlator.structure_remember(trace_id=message_id, message=message)

    def _push_announce(self, index: TopologyIndex) -> None:
        """Outside path: announce applications and devices that came, went or were
        switched on or off since the last read (the embedded observer reports these
        itself), so viewers resync and draw a disabled device as one. The first read
        only sets the baseline, as the watcher's own announcements do."""
        seen, self._push_seen = self._push_seen, index.topology
        if seen is None:
            return
        for kind, action, arn in push_changes(seen, index.topology):
            self.emitter.emit(ResourceChanged, kind=kind, action=action, arn=arn)

    def _apply_workers(self, index: TopologyIndex) -> None:
        for queue_arn, spec in self._wanted.items():
            if queue_arn in index.queues and self.workers.spec(queue_arn) != spec:
                self.workers.set(queue_arn, spec)

    def snapshot(self) -> dict[str, Any]:
        """The state a new viewer starts from; events after ``last_seq`` bring it forward."""
        topology = self.correlator.index.topology
        return {
            "last_seq": self.emitter.last_seq,
            "topology": asdict(topology),
            "depths": {arn: asdict(d) for arn, d in self.watcher.depths.items()},
            "workers": [asdict(s) for s in self.workers.stats.values()],
            "worker_specs": {arn: asdict(spec) for arn, spec in self._wanted.items()},
        }
