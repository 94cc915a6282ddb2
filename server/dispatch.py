"""Feeds queued sessions to the worker pool, one loop per worker, and turns what a worker
reports into session state and events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from . import worker as protocol
from .errors import ServiceUnavailable
from .jobs import CRASHED, TIMED_OUT, Outcome, WorkerPool, WorkerProcess
from .logs import bind_session
from .models import Session, SessionState
from .sessions import SessionService

log = logging.getLogger("vidpulse.dispatch")

# A job whose worker keeps dying is failed after this many tries instead of looping forever.
MAX_ATTEMPTS = 3

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
            try:
                session_id = await backend.next_job()
            except ServiceUnavailable:
                await asyncio.sleep(1.0)  # the backend is down; it comes back by itself
                continue
            try:
                await self._take(worker, session_id)
            except asyncio.CancelledError:
                raise
            except ServiceUnavailable:
                # Not the job's fault: leave it unacknowledged; it is delivered again (claimed
                # after JOB_VISIBILITY_S) once the backend is back.
                log.warning("backend lost while dispatching %s; it will run again", session_id)
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("dispatching %s failed", session_id)
                await self._fail_quietly(session_id)
            if not worker.alive:
                await worker.restart()

    async def _take(self, worker: WorkerProcess, session_id: str) -> None:
        bind_session(session_id)
        service, backend = self.service, self.service.backend
        session = await backend.get(session_id)
        if session is None or session.state.finished:
            pass  # deleted, cancelled while queued, or settled by a worker that died before acking
        elif session.state is SessionState.CANCELLING:
            await service.mark_cancelled(session)
        elif session.attempts >= MAX_ATTEMPTS:
            code, message = _FAILURES[CRASHED]
            await service.fail(session, code, f"{message} It was tried {session.attempts} times.")
        else:
            await self._run(worker, session)
        await backend.job_done(session_id)

    async def _fail_quietly(self, session_id: str) -> None:
        with contextlib.suppress(Exception):
            session = await self.service.backend.get(session_id)
            if session is not None and not session.state.finished:
                await self.service.fail(session, "internal", "The server failed to run this job.")
            await self.service.backend.job_done(session_id)

    async def _run(self, worker: WorkerProcess, session: Session) -> None:
        service = self.service
        await service.mark_started(session)
        await service.announce_positions()
        service.storage.clear_artifacts(session.id)  # a claimed job may find an earlier attempt's files
        paths = service.storage.paths(session.id)
        job = {"source": str(paths.source), "out_dir": str(paths.artifacts), "options": session.options}

        async def on_message(kind: str, payload: Any) -> None:
            if kind == protocol.STAGE:
                await service.record_stage(session, payload)
            else:
                await service.record_progress(session, payload)
            await service.backend.job_heartbeat(session.id)

        outcome = await worker.run(session.id, job, on_message, service.settings.job_timeout_s)
        await self._settle(session, outcome)

    async def _settle(self, session: Session, outcome: Outcome) -> None:
        service = self.service
        current = await service.backend.get(session.id)
        if current is None:
            return  # deleted while running; its files are gone already
        cancelling = SessionState.CANCELLING in (session.state, current.state)
        if outcome.kind == protocol.DONE:
            await service.succeed(session, outcome.payload)
        elif outcome.kind == protocol.CANCELLED or cancelling:
            await service.mark_cancelled(session)
        elif outcome.kind == protocol.ERROR:
            await service.fail(session, outcome.payload["code"], outcome.payload["message"])
        elif outcome.kind == CRASHED and service.backend.retries_crashed_jobs and session.attempts < MAX_ATTEMPTS:
            await service.requeue(session)
        else:
            code, message = _FAILURES.get(outcome.kind, _FAILURES[CRASHED])
            await service.fail(session, code, message)
