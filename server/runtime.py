"""Everything a running service holds, created in the lifespan and stopped with it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections import Counter
from dataclasses import dataclass, field

from vidpulse.server.backends import create_backend
from vidpulse.server.backends.protocols import Backend
from vidpulse.server.config import Settings
from vidpulse.server.errors import ServiceUnavailable
from vidpulse.server.jobs.dispatch import Dispatcher
from vidpulse.server.jobs.pool import Prober, WorkerPool
from vidpulse.server.notify.deliveries import create_webhook_store
from vidpulse.server.notify.webhooks import Webhooks
from vidpulse.server.ops.looplag import LoopLag
from vidpulse.server.ops.metrics import Gauges, Metrics
from vidpulse.server.ops.supervise import Supervisor
from vidpulse.server.ops.tracing import Tracing
from vidpulse.server.schemas import BackendHealth, Readiness, StorageHealth, WorkerHealth
from vidpulse.server.sessions.control import SessionControl
from vidpulse.server.sessions.expiry import Housekeeping
from vidpulse.server.sessions.lifecycle import SessionLifecycle
from vidpulse.server.sessions.queries import SessionQueries
from vidpulse.server.storage import create_storage
from vidpulse.server.storage.base import Storage
from vidpulse.server.streams.hub import Hub
from vidpulse.server.uploads.admission import Admission
from vidpulse.server.uploads.live import LiveIngest
from vidpulse.server.uploads.resumable import TusService
from vidpulse.server.uploads.staging import LocalUploadStore, S3UploadStore, UploadStore
from vidpulse.server.uploads.url_ingest import Ingestor

log = logging.getLogger("vidpulse")

HEARTBEAT_S = 5.0


@dataclass
class Runtime:
    settings: Settings
    storage: Storage
    hub: Hub
    backend: Backend
    pool: WorkerPool
    prober: Prober
    lifecycle: SessionLifecycle
    queries: SessionQueries
    control: SessionControl
    housekeeping: Housekeeping
    admission: Admission
    dispatcher: Dispatcher
    metrics: Metrics
    tracing: Tracing
    webhooks: Webhooks
    uploads: UploadStore
    tus: TusService
    ingest: Ingestor
    live: LiveIngest
    accepting: bool = True
    supervisor: Supervisor = field(default_factory=Supervisor)
    loop_lag: LoopLag = field(default_factory=LoopLag)
    _handing_back: asyncio.Future[None] | None = None
    _stopped: asyncio.Future[None] | None = None

    @classmethod
    async def start(cls, settings: Settings, metrics: Metrics, tracing: Tracing, *, probes: bool = True) -> Runtime:
        """`probes` False: no probe processes, for an instance that takes no uploads (`vidpulse worker`)."""
        storage = create_storage(settings)
        hub = Hub(settings.subscriber_queue)
        backend = create_backend(settings, storage, hub, tracing)
        pool = WorkerPool(settings.workers, settings.progress_hz, settings.worker_nice)
        backend.signals.on_cancel(pool.cancel)
        prober = Prober(settings.probe_timeout_s, settings.probe_processes if probes else 0)
        webhooks = Webhooks(settings, create_webhook_store(settings, storage), backend.sessions, metrics, tracing)
        lifecycle = SessionLifecycle(backend, storage, webhooks, metrics)
        queries = SessionQueries(settings, backend, storage, hub)
        control = SessionControl(queries, lifecycle, backend)
        admission = Admission(settings, lifecycle, backend, prober)
        # tus chunks may land on any instance, so with S3 they go to the bucket; a URL ingest is fetched
        # whole by one instance, which keeps it in its scratch until the last byte (one put, no join).
        fetched = LocalUploadStore(storage)
        uploads: UploadStore = S3UploadStore(storage) if settings.storage == "s3" else fetched
        runtime = cls(settings, storage, hub, backend, pool, prober, lifecycle, queries, control,
                      Housekeeping(settings, lifecycle, backend), admission,
                      Dispatcher(settings, lifecycle, backend, pool, tracing), metrics, tracing, webhooks, uploads,
                      TusService(settings, admission, control, uploads), Ingestor(settings, admission, fetched),
                      LiveIngest(settings, admission))
        await storage.start()
        unfinished = await backend.connection.start()
        await webhooks.start()  # after the backend, which removes orphan folders at start
        await asyncio.gather(pool.start(), prober.start())
        await runtime.housekeeping.resume(unfinished)
        with contextlib.suppress(ServiceUnavailable):  # Redis down at start: the sweep does it later
            await runtime.housekeeping.reconcile()
        loops = {**backend.loops, **runtime.dispatcher.loops(),
                 "expiry": runtime._expire_forever, "heartbeat": runtime._heartbeat_forever}
        for name, run in loops.items():
            runtime.supervisor.start(name, run)
        # Neither is needed to take uploads and stream: a restart does not make the instance unready.
        for name, run in {"loop-lag": runtime.loop_lag.run, **webhooks.loops()}.items():
            runtime.supervisor.start(name, run, required=False)
        _tame_the_collector()
        log.info("vidpulse ready: backend=%s storage=%s workers=%d data_dir=%s", backend.name, storage.name,
                 pool.size, settings.data_dir)
        return runtime

    def begin_stop(self) -> None:
        """The first stop signal (cli.py, worker_host.py): refuse new work, and hand the running
        jobs back now, while everything else still works (uvicorn may drain connections for a while
        yet). Idempotent; stop() finishes what this begins."""
        self.accepting = False
        if self._handing_back is None:
            self._handing_back = asyncio.ensure_future(self.dispatcher.stop())

    async def stop(self) -> None:
        """Idempotent: a second call (a forced stop racing the lifespan's) waits for the first."""
        if self._stopped is None:
            self._stopped = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopped)

    async def _stop(self) -> None:
        self.begin_stop()
        assert self._handing_back is not None
        # Running jobs first: handed back (memory: queued again at the next start; Redis: taken by
        # another host at once), each attempt counted as interrupted, not crashed.
        await self._handing_back
        self.hub.close_all()
        await self.ingest.stop()
        await self.supervisor.stop()
        await asyncio.gather(self.pool.stop(), self.prober.stop())
        await self.webhooks.stop()
        await self.backend.connection.close()
        await self.storage.close()
        self.tracing.shutdown()  # exports what is left

    async def _expire_forever(self) -> None:
        interval = max(0.5, min(5.0, self.settings.session_ttl_s / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.housekeeping.expire()
                await self.housekeeping.reconcile()
            except Exception:
                log.exception("expiry sweep failed")

    async def _heartbeat_forever(self) -> None:
        while True:
            try:
                await self.backend.signals.report_workers(self.pool.alive)
            except Exception:
                log.warning("worker heartbeat failed", exc_info=True)
            await asyncio.sleep(HEARTBEAT_S)

    def check_accepting(self) -> None:
        if not self.accepting:
            raise ServiceUnavailable("The server is shutting down; try again in a moment.")

    async def gauges(self) -> Gauges:
        states = Counter(s.state.value for s in await self.backend.sessions.all())
        stats = self.hub.stats
        return Gauges(states=states, queued=len(await self.backend.jobs.queued()), workers_alive=self.pool.alive,
                      subscribers=self.hub.by_transport(), loop_lag_s=self.loop_lag.seconds,
                      task_restarts=self.supervisor.restarts(), events_published=stats.published,
                      events_delivered=stats.delivered, events_coalesced=stats.coalesced,
                      subscribers_overflowed=stats.overflowed)

    async def readiness(self) -> Readiness:
        backend_ok, storage_ok = await asyncio.gather(self.backend.connection.ping(), self.storage.ping())
        alive = await self.backend.signals.workers_alive(self.pool.alive) if backend_ok else self.pool.alive
        down = self.supervisor.down()
        return Readiness(
            backend=BackendHealth(name=self.backend.name, ok=backend_ok),  # type: ignore[arg-type]
            storage=StorageHealth(name=self.storage.name, ok=storage_ok),  # type: ignore[arg-type]
            workers=WorkerHealth(alive=alive, configured=self.pool.size),
            queued=len(await self.backend.jobs.queued()) if backend_ok else None,
            tasks_down=down,
            ready=(backend_ok and storage_ok and self.accepting and not down
                   and (self.pool.size == 0 or self.pool.alive > 0)))


def _tame_the_collector() -> None:
    """Full collections stalled fan-out for 160-250 ms at 1-2k subscribers (docs/benchmarks.md):
    move everything alive after start-up out of the collector's view, and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
