"""Feeds queued sessions to the worker pool, one loop per worker, and turns what a worker
reports into session state and events.

A job runs as an attempt (backends/fencing.py): once its source is on this host, the loop begins
the next attempt, and every write the run makes is that attempt's. Invariants:
- a job taken here ends in one of three ways: settled (a terminal state, or queued again after a
  crash), handed back (this host stops: the attempt counts as interrupted, not towards
  MAX_ATTEMPTS), or given up (superseded: another host's attempt is the current one; this host
  writes nothing more, kills the worker and removes its own attempt's files);
- while a job runs here, its hold is checked every _HOLD_CHECK_S, and every write is fenced: a host
  that comes back from a freeze to find its job taken over stops it within about a second;
- once the host stops (`stop`), no loop takes another job and every running one is handed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from vidpulse.server.backends.fencing import Attempt, AttemptSuperseded, writing_as
from vidpulse.server.backends.protocols import Backend
from vidpulse.server.config import Settings
from vidpulse.server.errors import ServiceUnavailable
from vidpulse.server.jobs import child as protocol
from vidpulse.server.jobs.pool import CRASHED, INTERRUPTED, TIMED_OUT, OnMessage, Outcome, WorkerPool, WorkerProcess
from vidpulse.server.live.driver import LiveDriver
from vidpulse.server.logs import bind_session
from vidpulse.server.models import Session, SessionState, Summary
from vidpulse.server.ops.tracing import Tracing, current_traceparent
from vidpulse.server.sessions.lifecycle import SessionLifecycle
from vidpulse.server.storage.base import SOURCE, StorageUnavailable, artifacts_prefix

log = logging.getLogger("vidpulse.dispatch")

# A job whose worker keeps dying is failed after this many tries instead of looping forever
# (attempts handed back by a stopping host do not count: Session.counted_attempts).
MAX_ATTEMPTS = 3
# How often a running job's hold is renewed and checked.
_HOLD_CHECK_S = 1.0
# How long a stopping host waits for its loops to hand their jobs back or finish storing results.
_STOP_WAIT_S = 10.0
T = TypeVar("T")

_FAILURES = {
    CRASHED: ("worker_crashed", "The worker process analysing this video stopped unexpectedly."),
    TIMED_OUT: ("timeout", "The analysis took longer than the time limit for one job."),
}


@dataclass
class _Hold:
    """This host's hold on a job it took: the attempt it runs (once begun), and why it was lost."""

    session_id: str
    worker: WorkerProcess
    attempt: int | None = None
    lost: str | None = None


class Dispatcher:
    def __init__(self, settings: Settings, lifecycle: SessionLifecycle, backend: Backend, pool: WorkerPool,
                 tracing: Tracing) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.backend = backend
        self.pool = pool
        self.tracing = tracing
        self.live = LiveDriver(settings, lifecycle, backend)
        self._stopping = asyncio.Event()
        self._running: set[str] = set()
        self._none_running = asyncio.Event()
        self._none_running.set()

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """One loop per worker, for the runtime's supervisor."""
        return {f"dispatch-{worker.index}": functools.partial(self._serve, worker) for worker in self.pool.workers}

    async def stop(self) -> None:
        """The host stops: no loop takes another job, running jobs are handed back (their workers
        killed), jobs already storing their results finish. Returns once no loop holds a job, or
        after _STOP_WAIT_S (a store that is down)."""
        if not self._stopping.is_set():
            log.info("stopping: %d running jobs are handed back", len(self._running))
            self._stopping.set()
            self.pool.interrupt()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_STOP_WAIT_S):
                await self._none_running.wait()

    async def _serve(self, worker: WorkerProcess) -> None:
        while (session_id := await self._next_job()) is not None:
            self._running.add(session_id)
            self._none_running.clear()
            try:
                await self._take_safely(worker, session_id)
            finally:
                self._running.discard(session_id)
                if not self._running:
                    self._none_running.set()
            if not worker.alive and not self._stopping.is_set():
                await worker.restart()
        await asyncio.get_running_loop().create_future()  # stopped: idle until cancelled (returning is dying)

    async def _next_job(self) -> str | None:
        """The next job; None once the host stops (a loop waiting for one stops waiting at once)."""
        while not self._stopping.is_set():
            take = asyncio.ensure_future(self.backend.jobs.next_job())
            stopped = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait((take, stopped), return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
                take.cancel()  # a no-op once it has its job
            await asyncio.wait((take,))
            if take.cancelled():
                break
            try:
                return take.result()  # taken as the host stops: handed back before it begins
            except ServiceUnavailable:
                await asyncio.sleep(1.0)  # the backend is down; it comes back by itself
        return None

    async def _take_safely(self, worker: WorkerProcess, session_id: str) -> None:
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

    async def _take(self, worker: WorkerProcess, session_id: str) -> None:
        bind_session(session_id)
        lifecycle, backend = self.lifecycle, self.backend
        session = await backend.sessions.get(session_id)
        if session is None or session.state.finished:
            pass  # deleted, cancelled while queued, or settled by a worker that died before acking
        elif session.state is SessionState.CANCELLING:
            await lifecycle.mark_cancelled(session)
        elif session.counted_attempts >= MAX_ATTEMPTS:
            code, message = _FAILURES[CRASHED]
            await lifecycle.fail(session, code, f"{message} It was tried {session.counted_attempts} times.")
        else:
            try:
                if not await self._run(worker, session):
                    return  # handed back: no longer this host's to acknowledge
            except AttemptSuperseded as exc:
                log.warning("stopped working on %s: %s", session_id, exc, extra={"attempt": exc.number})
        await backend.jobs.job_done(session_id)

    async def _fail_quietly(self, session_id: str) -> None:
        with contextlib.suppress(Exception):
            session = await self.backend.sessions.get(session_id)
            if session is not None and not session.state.finished:
                await self.lifecycle.fail(session, "internal", "The server failed to run this job.")
            await self.backend.jobs.job_done(session_id)

    async def _run(self, worker: WorkerProcess, session: Session) -> bool:
        """Fetch the source into this host's folder, analyse it there as a new attempt, store the
        artifacts, and drop the local copy: a host that dies mid-job leaves the job whole in
        storage. False when the job was handed back."""
        storage, tracing = self.lifecycle.storage, self.tracing
        hold = _Hold(session.id, worker)
        try:
            # The session's trace goes on here, whichever host took the job.
            with tracing.span("job", parent=session.trace, attributes={"vidpulse.session": session.id}):
                with tracing.span("queue", start=session.queued_at):
                    pass  # the wait, from queueing until this host took the job
                return await self._fetched_and_run(session, hold)
        finally:
            await storage.release(session.id)

    async def _fetched_and_run(self, session: Session, hold: _Hold) -> bool:
        """`_run` inside the job's span: fetch, check the session again, and run the attempt."""
        lifecycle, storage, jobs = self.lifecycle, self.lifecycle.storage, self.backend.jobs
        async with self._holding(hold):
            with self.tracing.span("fetch"):
                # A live session has no stored source: its worker follows the stream itself.
                live = session.kind == "live"
                source = None if live else await self._until_stored(lambda: storage.fetch(session.id, SOURCE))
            current = await self.backend.sessions.get(session.id)  # cancelled or deleted during the download?
            if current is None or current.state.finished:
                return True
            if current.state is SessionState.CANCELLING:
                await lifecycle.mark_cancelled(current)
                return True
            if self._stopping.is_set():
                await jobs.hand_back(session.id)  # not begun: nothing to count
                return False
            hold.attempt = await jobs.begin_attempt(current)
            if hold.attempt is None:
                return True  # it ended meanwhile
            with writing_as(Attempt(session.id, hold.attempt)):
                return await self._attempt(current, source, hold)

    async def _attempt(self, session: Session, source: Path | None, hold: _Hold) -> bool:
        lifecycle, attempt = self.lifecycle, hold.attempt
        assert attempt is not None
        out_dir = lifecycle.storage.paths(session.id).artifacts_of(attempt)
        try:
            await lifecycle.mark_started(session, attempt)
            await lifecycle.announce_positions()
            await lifecycle.clear_artifacts(session.id)  # a claimed job may find an earlier attempt's files
            await asyncio.to_thread(_empty_folder, out_dir)
            if source is None:
                outcome = await self.live.run(hold.worker, session, out_dir)
            else:
                # The job crosses the worker's pipe as plain values; jobs/child.py rebuilds the options.
                job = {"source": str(source), "out_dir": str(out_dir), "options": session.options.to_dict(),
                       "video": session.video and session.video.model_dump(), "name": session.filename,
                       "session": session.id, "trace": current_traceparent()}
                outcome = await hold.worker.run(session.id, job, self._reporter(session),
                                                self.settings.job_timeout_s)
            if hold.lost is None and outcome.kind == protocol.DONE:
                with self.tracing.span("store artifacts"):
                    await self._store_artifacts(session.id, out_dir, attempt)
            # The last word (the terminal state and its webhook) is the current attempt's alone.
            if hold.lost is not None or not await self.backend.jobs.job_heartbeat(session.id, attempt):
                raise AttemptSuperseded(session.id, attempt, hold.lost or "another host took the job over")
            return await self._settle(session, outcome, attempt)
        except AttemptSuperseded:
            await self._discard(session.id, attempt, out_dir)
            raise

    def _reporter(self, session: Session) -> OnMessage:
        lifecycle = self.lifecycle

        async def on_message(kind: str, payload: Any) -> None:
            if kind == protocol.STAGE:
                await lifecycle.record_stage(session, payload)
            elif kind == protocol.SCENE:
                await lifecycle.record_scene(session, payload)
            else:
                await lifecycle.record_progress(session, payload)

        return on_message

    async def _store_artifacts(self, session_id: str, out_dir: Path, attempt: int) -> None:
        storage, backend = self.lifecycle.storage, self.backend
        if await backend.sessions.get(session_id) is None:
            return  # deleted while it ran
        await self._until_stored(lambda: storage.publish(session_id, out_dir, artifacts_prefix(attempt)))
        if await backend.sessions.get(session_id) is None:  # deleted while the files went up
            await self._until_stored(lambda: storage.remove(session_id))

    async def _discard(self, session_id: str, attempt: int, out_dir: Path) -> None:
        """A superseded attempt's own files go (its folder only: the current attempt's are elsewhere)."""
        with contextlib.suppress(StorageUnavailable):
            await self.lifecycle.storage.delete(session_id, artifacts_prefix(attempt))
        await asyncio.to_thread(shutil.rmtree, out_dir, True)

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
    async def _holding(self, hold: _Hold) -> AsyncIterator[None]:
        """Keeps the job claimed while this host works on it, progress or not (a long download or
        upload, a slow start on a busy machine): only a host that stops claims it back. A host
        that finds the job is no longer its own (it was silent for longer than JOB_VISIBILITY_S:
        frozen, cut off) kills the worker at once and says why."""
        backend = self.backend

        async def beat() -> None:
            while hold.lost is None:
                with contextlib.suppress(ServiceUnavailable):
                    if not await backend.jobs.job_heartbeat(hold.session_id, hold.attempt):
                        _lose(hold, "another host claimed the job while this one was silent")
                await asyncio.sleep(_HOLD_CHECK_S)

        task = asyncio.create_task(beat(), name=f"heartbeat-{hold.session_id}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _settle(self, session: Session, outcome: Outcome, attempt: int) -> bool:
        """The attempt's ending; False when the job was handed back."""
        lifecycle = self.lifecycle
        current = await self.backend.sessions.get(session.id)
        if current is None:
            return True  # deleted while running; its files are gone already
        cancelling = SessionState.CANCELLING in (session.state, current.state)
        if outcome.kind == protocol.DONE:
            session.artifacts_attempt = attempt  # saved with `succeeded`: the switch to these files
            await lifecycle.succeed(session, Summary.model_validate(outcome.payload))
        elif outcome.kind == protocol.CANCELLED or cancelling:
            await lifecycle.mark_cancelled(session)
        elif outcome.kind == INTERRUPTED:
            await lifecycle.hand_back(session)
            return False
        elif outcome.kind == protocol.ERROR:
            await lifecycle.fail(session, outcome.payload["code"], outcome.payload["message"])
        elif (outcome.kind == CRASHED and self.backend.retries_crashed_jobs
              and session.counted_attempts < MAX_ATTEMPTS):
            await lifecycle.requeue(session)
        else:
            code, message = _FAILURES.get(outcome.kind, _FAILURES[CRASHED])
            await lifecycle.fail(session, code, message)
        return True


def _lose(hold: _Hold, why: str) -> None:
    hold.lost = why
    log.warning("lost job %s (attempt %s): %s; stopping its worker", hold.session_id, hold.attempt, why)
    if hold.worker.session_id == hold.session_id:
        hold.worker.kill()


def _empty_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
