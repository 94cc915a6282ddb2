"""Feeds queued sessions to the worker pool, one loop per worker, and turns what a worker
reports into session state and events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from . import worker as protocol
from .jobs import CRASHED, TIMED_OUT, Outcome, WorkerPool, WorkerProcess
from .models import Session, SessionState
from .sessions import SessionService

log = logging.getLogger("vidpulse.dispatch")

_FAILURES = {
    CRASHED: ("worker_crashed", "The worker process analysing this video stopped unexpectedly."),
    TIMED_OUT: ("timeout", "The analysis took longer than the time limit for one job."),
}


class Dispatcher:
    def __init__(self, service: SessionService, pool: WorkerPool) -> None:
        self.service = service
        self.pool = pool
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._serve(worker), name=f"dispatch-{worker.index}")
                       for worker in self.pool.workers]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _serve(self, worker: WorkerProcess) -> None:
        backend = self.service.backend
        while True:
            session_id = await backend.next_job()
            session = await backend.get(session_id)
            if session is None:
                continue
            if session.state is SessionState.CANCELLING:
                await self.service.mark_cancelled(session)
                continue
            try:
                await self._run(worker, session)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatching %s failed", session_id)
                if not session.state.finished:
                    await self.service.fail(session, "internal", "The server failed to run this job.")
            if not worker.alive:
                await worker.restart()

    async def _run(self, worker: WorkerProcess, session: Session) -> None:
        service = self.service
        await service.mark_started(session)
        await service.announce_positions()
        paths = service.storage.paths(session.id)
        job = {"source": str(paths.source), "out_dir": str(paths.artifacts), "options": session.options}

        async def on_message(kind: str, payload: Any) -> None:
            if kind == protocol.STAGE:
                await service.record_stage(session, payload)
            else:
                await service.record_progress(session, payload)

        outcome = await worker.run(session.id, job, on_message, service.settings.job_timeout_s)
        await self._settle(session, outcome)

    async def _settle(self, session: Session, outcome: Outcome) -> None:
        service = self.service
        if await service.backend.get(session.id) is None:
            return  # deleted while running; its files are gone already
        if outcome.kind == protocol.DONE:
            await service.succeed(session, outcome.payload)
        elif outcome.kind == protocol.CANCELLED or session.state is SessionState.CANCELLING:
            await service.mark_cancelled(session)
        elif outcome.kind == protocol.ERROR:
            await service.fail(session, outcome.payload["code"], outcome.payload["message"])
        else:
            code, message = _FAILURES.get(outcome.kind, _FAILURES[CRASHED])
            await service.fail(session, code, message)
