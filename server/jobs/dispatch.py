"""Feeds queued sessions to the worker pool, one loop per worker, and turns what a worker
reports into session state and events."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from vidpulse.server.backends.protocols import Backend
from vidpulse.server.config import Settings
from vidpulse.server.errors import ServiceUnavailable
from vidpulse.server.jobs import child as protocol
from vidpulse.server.jobs.pool import CRASHED, TIMED_OUT, Outcome, WorkerPool, WorkerProcess
from vidpulse.server.live.driver import LiveDriver
from vidpulse.server.logs import bind_session
from vidpulse.server.models import Session, SessionState, Summary
from vidpulse.server.sessions.lifecycle import SessionLifecycle
from vidpulse.server.storage.base import ARTIFACTS, SOURCE, StorageUnavailable

log = logging.getLogger("vidpulse.dispatch")

# A job whose worker keeps dying is failed after this many tries instead of looping forever.
MAX_ATTEMPTS = 3
T = TypeVar("T")

_FAILURES = {
    CRASHED: ("worker_crashed", "The worker process analysing this video stopped unexpectedly."),
    TIMED_OUT: ("timeout", "The analysis took longer than the time limit for one job."),
}


class Dispatcher:
    def __init__(self, settings: Settings, lifecycle: SessionLifecycle, backend: Backend, pool: WorkerPool) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.backend = backend
        self.pool = pool
        self.live = LiveDriver(settings, lifecycle, backend)

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """One loop per worker, for the runtime's supervisor."""
        return {f"dispatch-{worker.index}": functools.partial(self._serve, worker) for worker in self.pool.workers}

    async def _serve(self, worker: WorkerProcess) -> None:
        backend = self.backend
        while True:
            try:
                session_id = await backend.jobs.next_job()
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
        lifecycle, backend = self.lifecycle, self.backend
        session = await backend.sessions.get(session_id)
        if session is None or session.state.finished:
            pass  # deleted, cancelled while queued, or settled by a worker that died before acking
        elif session.state is SessionState.CANCELLING:
            await lifecycle.mark_cancelled(session)
        elif session.run_attempts >= MAX_ATTEMPTS:
            code, message = _FAILURES[CRASHED]
            await lifecycle.fail(session, code, f"{message} It was tried {session.run_attempts} times.")
        else:
            await self._run(worker, session)
        await backend.jobs.job_done(session_id)

    async def _fail_quietly(self, session_id: str) -> None:
        with contextlib.suppress(Exception):
            session = await self.backend.sessions.get(session_id)
            if session is not None and not session.state.finished:
                await self.lifecycle.fail(session, "internal", "The server failed to run this job.")
            await self.backend.jobs.job_done(session_id)

    async def _run(self, worker: WorkerProcess, session: Session) -> None:
        """Fetch the source into this host's folder, analyse it there, store the artifacts, and
        drop the local copy: a host that dies mid-job leaves the job whole in storage."""
        lifecycle, storage = self.lifecycle, self.lifecycle.storage
        try:
            async with self._heartbeat(session.id):
                # A live session has no stored source: its worker follows the stream itself.
                live = session.kind == "live"
                source = None if live else await self._until_stored(lambda: storage.fetch(session.id, SOURCE))
                current = await self.backend.sessions.get(session.id)  # cancelled or deleted during the download?
                if current is None or current.state.finished:
                    return
                if current.state is SessionState.CANCELLING:
                    await lifecycle.mark_cancelled(current)
                    return
                await self._analyse(worker, session, source)
        finally:
            await storage.release(session.id)

    async def _analyse(self, worker: WorkerProcess, session: Session, source: Path | None) -> None:
        lifecycle = self.lifecycle
        await lifecycle.mark_started(session)
        await lifecycle.announce_positions()
        await lifecycle.clear_artifacts(session.id)  # a claimed job may find an earlier attempt's files
        out_dir = lifecycle.storage.paths(session.id).artifacts
        await asyncio.to_thread(_empty_folder, out_dir)
        if source is None:
            await self._finish(session, await self.live.run(worker, session, out_dir), out_dir)
            return
        # The job crosses the worker's pipe as plain values; jobs/child.py rebuilds the options.
        job = {"source": str(source), "out_dir": str(out_dir), "options": session.options.to_dict(),
               "video": session.video and session.video.model_dump(), "name": session.filename}

        async def on_message(kind: str, payload: Any) -> None:
            if kind == protocol.STAGE:
                await lifecycle.record_stage(session, payload)
            elif kind == protocol.SCENE:
                await lifecycle.record_scene(session, payload)
            else:
                await lifecycle.record_progress(session, payload)

        outcome = await worker.run(session.id, job, on_message, self.settings.job_timeout_s)
        await self._finish(session, outcome, out_dir)

    async def _finish(self, session: Session, outcome: Outcome, out_dir: Path) -> None:
        if outcome.kind == protocol.DONE:
            await self._store_artifacts(session.id, out_dir)
        await self._settle(session, outcome)

    async def _store_artifacts(self, session_id: str, out_dir: Path) -> None:
        storage, backend = self.lifecycle.storage, self.backend
        if await backend.sessions.get(session_id) is None:
            return  # deleted while it ran
        await self._until_stored(lambda: storage.publish(session_id, out_dir, ARTIFACTS))
        if await backend.sessions.get(session_id) is None:  # deleted while the files went up
            await self._until_stored(lambda: storage.remove(session_id))

    async def _until_stored(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Storage work waits out an outage of the store (the job keeps its place meanwhile)."""
        delay = 0.5
        while True:
            try:
                return await operation()
            except StorageUnavailable:
                log.warning("storage unavailable; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    @contextlib.asynccontextmanager
    async def _heartbeat(self, session_id: str) -> AsyncIterator[None]:
        """Keeps the job claimed while this host works on it, progress or not (a long download or
        upload, a slow start on a busy machine): only a host that stops claims it back."""
        backend = self.backend

        async def beat() -> None:
            while True:
                with contextlib.suppress(ServiceUnavailable):
                    await backend.jobs.job_heartbeat(session_id)
                await asyncio.sleep(1.0)

        task = asyncio.create_task(beat(), name=f"heartbeat-{session_id}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _settle(self, session: Session, outcome: Outcome) -> None:
        lifecycle = self.lifecycle
        current = await self.backend.sessions.get(session.id)
        if current is None:
            return  # deleted while running; its files are gone already
        cancelling = SessionState.CANCELLING in (session.state, current.state)
        if outcome.kind == protocol.DONE:
            await lifecycle.succeed(session, Summary.model_validate(outcome.payload))
        elif outcome.kind == protocol.CANCELLED or cancelling:
            await lifecycle.mark_cancelled(session)
        elif outcome.kind == protocol.ERROR:
            await lifecycle.fail(session, outcome.payload["code"], outcome.payload["message"])
        elif (outcome.kind == CRASHED and self.backend.retries_crashed_jobs
              and session.run_attempts < MAX_ATTEMPTS):
            await lifecycle.requeue(session)
        else:
            code, message = _FAILURES.get(outcome.kind, _FAILURES[CRASHED])
            await lifecycle.fail(session, code, message)


def _empty_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
