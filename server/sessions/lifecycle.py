"""The state machine of a session: every state change, and the event it logs, happens here.

Invariant: a session's state and its event log agree. Each change saves the session and appends
the event that announces it, in that order, and nothing else writes either."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from vidpulse.processing import AnalysisOptions
from vidpulse.server import schemas
from vidpulse.server.backends.protocols import Backend
from vidpulse.server.models import EventType, Progress, Session, SessionError, SessionState, Summary, utcnow
from vidpulse.server.notify.webhooks import Webhooks
from vidpulse.server.ops.metrics import Metrics
from vidpulse.server.storage.base import ARTIFACTS, Storage, StorageUnavailable

log = logging.getLogger("vidpulse.sessions")

# The fallback for the time a job takes, before any job has finished here.
_DEFAULT_JOB_S = 10.0


@dataclass
class SessionLifecycle:
    backend: Backend
    storage: Storage
    webhooks: Webhooks
    metrics: Metrics
    _recent_job_s: deque[float] = field(default_factory=lambda: deque(maxlen=20))

    def typical_job_s(self) -> float:
        """The mean time of the last jobs finished here (for Retry-After)."""
        return sum(self._recent_job_s) / len(self._recent_job_s) if self._recent_job_s else _DEFAULT_JOB_S

    async def log(self, session: Session, event: EventType, data: BaseModel) -> dict[str, Any]:
        """Append one event; its data is the model of its type (server/schemas.py's EVENT_DATA)."""
        assert isinstance(data, schemas.EVENT_DATA[event]), (event, type(data))
        raw = data.model_dump(mode="json")
        await self.backend.events.append(session, event, raw)
        return raw

    # Queue -----------------------------------------------------------------------------------

    async def enqueue(self, session: Session) -> None:
        """Queue the job of a session saved `queued` (with its `queued_at`)."""
        position = await self.backend.jobs.enqueue(session.id)
        await self.log(session, EventType.QUEUED, schemas.QueuedData(position=position))

    async def announce_positions(self) -> None:
        for position, session_id in enumerate(await self.backend.jobs.queued(), start=1):
            session = await self.backend.sessions.get(session_id)
            if session is not None:
                await self.log(session, EventType.QUEUED, schemas.QueuedData(position=position))

    async def retry(self, session: Session, options: AnalysisOptions | None) -> None:
        """A finished session runs again on the same log, as a new run (a client asked)."""
        session.finished_at, session.error, session.summary = None, None, None
        session.run_from, session.interrupted = session.attempts + 1, 0
        if options is not None:
            session.options = options
        await self._back_to_queue(session)

    async def requeue(self, session: Session) -> None:
        """Run an interrupted job again from the start (its attempts keep counting)."""
        await self._back_to_queue(session)

    async def _back_to_queue(self, session: Session) -> None:
        await self.clear_artifacts(session.id)
        session.state, session.started_at, session.progress = SessionState.QUEUED, None, None
        session.queued_at = utcnow()
        await self.backend.sessions.save(session)
        await self.enqueue(session)

    async def hand_back(self, session: Session) -> None:
        """A stopping host gives its running job back (jobs/dispatch.py): queued again, the attempt
        counted as interrupted (not towards MAX_ATTEMPTS). Redis: for any host at once; memory:
        when the server starts again."""
        session.interrupted += 1
        session.state, session.started_at, session.progress = SessionState.QUEUED, None, None
        session.queued_at = utcnow()
        await self.backend.sessions.save(session)
        if self.backend.shared_jobs:
            # Logged before the job is given back: from then on another host may begin the next
            # attempt, after which this one can write nothing. It goes back ahead of the queue.
            await self.log(session, EventType.QUEUED, schemas.QueuedData(position=1))
        await self.backend.jobs.hand_back(session.id)

    # Running ---------------------------------------------------------------------------------

    async def mark_started(self, session: Session, attempt: int) -> None:
        """`attempt`: the number JobQueue.begin_attempt gave this run."""
        session.state = SessionState.RUNNING
        session.started_at = utcnow()
        session.attempts = attempt
        await self.backend.sessions.save(session)
        await self.log(session, EventType.STARTED, schemas.StartedData(attempt=session.attempts))

    async def record_stage(self, session: Session, stage: str) -> None:
        if session.state is SessionState.RUNNING:
            data = schemas.StageData.model_validate({"stage": stage, "attempt": session.attempt})
            if isinstance(session.progress, Progress) and session.progress.attempt == session.attempt:
                session.progress = session.progress.model_copy(update={"stage": data.stage})
            else:
                total = session.video.frames if session.video else 0
                session.progress = Progress(attempt=session.attempt, fraction=0.0, stage=data.stage, frame=0,
                                            total_frames=total, fps=0.0, eta_s=None)
            await self.log(session, EventType.STAGE, data)

    async def record_scene(self, session: Session, scene: dict[str, Any]) -> None:
        """A scene the running analysis has closed: logged, never merged or dropped."""
        if session.state is SessionState.RUNNING:
            await self.log(session, EventType.SCENE,
                           schemas.SceneData.model_validate({**scene, "attempt": session.attempt}))

    async def record_progress(self, session: Session, progress: dict[str, Any]) -> None:
        if session.state is not SessionState.RUNNING:
            return
        progress_now = session.progress if isinstance(session.progress, Progress) else None
        current = progress_now is not None and progress_now.attempt == session.attempt
        previous = progress_now.fraction if progress_now and current else 0.0
        fraction = round(max(previous, min(1.0, float(progress["fraction"]))), 4)
        eta = progress.get("eta_s")
        session.progress = Progress(
            attempt=session.attempt, fraction=fraction, stage=progress["stage"], frame=progress["frame"],
            total_frames=progress["total_frames"], fps=round(float(progress["fps"]), 1),
            eta_s=None if eta is None else round(float(eta), 1))
        await self.log(session, EventType.PROGRESS, schemas.ProgressData(session.progress))

    # Endings ---------------------------------------------------------------------------------

    async def succeed(self, session: Session, summary: Summary) -> None:
        session.summary = summary
        if isinstance(session.progress, Progress):  # a live session's has no fraction
            session.progress = session.progress.model_copy(update={"fraction": 1.0, "eta_s": 0.0})
        links = schemas.SessionLinks.of(session.id)
        files = {name: f"{links.files}{name}" for name in summary.artifacts}
        await self._finish(session, SessionState.SUCCEEDED, EventType.SUCCEEDED, schemas.SucceededData(
            summary=summary, results=links.results, files=files))

    async def fail(self, session: Session, code: str, message: str) -> None:
        session.error = SessionError(code=code, message=message)
        await self.clear_artifacts(session.id)
        await self._finish(session, SessionState.FAILED, EventType.FAILED, session.error)

    async def mark_cancelled(self, session: Session) -> None:
        await self.clear_artifacts(session.id)
        await self._finish(session, SessionState.CANCELLED, EventType.CANCELLED, schemas.Empty())

    async def clear_artifacts(self, session_id: str) -> None:
        """An unfinished or failed attempt's files go; with the store down they stay until the
        next attempt clears them again, or the session is deleted or expires."""
        try:
            await self.storage.delete(session_id, ARTIFACTS)
        except StorageUnavailable:
            log.warning("could not clear the artifacts of %s: storage unavailable", session_id)

    async def remove(self, session: Session) -> None:
        # Files first: with the store down this fails (503, or the next expiry sweep) and the
        # session stays, so no object is left without a session to clean it up.
        await self.storage.remove(session.id)
        await self.backend.sessions.remove(session.id)

    async def _finish(self, session: Session, state: SessionState, event: EventType, data: BaseModel) -> None:
        session.state = state
        session.finished_at = utcnow()
        if session.started_at is not None:
            self._recent_job_s.append((session.finished_at - session.started_at).total_seconds())
        # Recorded before the state is saved: a crash in between runs the job again, and the
        # second recording of the same delivery id is a no-op, so no announcement is lost.
        await self.webhooks.session_finished(session)
        await self.backend.sessions.save(session)
        await self.log(session, event, data)
        self.metrics.jobs_finished.labels(state.value).inc()
        log.info("session %s", state.value, extra={"error": session.error and session.error.model_dump()})
        if state is SessionState.SUCCEEDED and session.summary is not None and session.summary.timing.fps:
            self.metrics.analysis_fps.observe(session.summary.timing.fps)
