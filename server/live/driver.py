"""The server's side of a live session on a worker: the job it sends, what it makes of the worker's
messages (progress, levels, incidents, scenes as events; incidents also as webhooks, when asked), and the
stop a client asked for.

An attempt that follows earlier ones of the same run (their host died, was fenced off, or stopped) goes
on from where they were (server/live/resume.py): the job carries their timeline and incidents, and their
incidents' webhooks are recorded again first (a no-op for those already recorded: their ids are derived),
so none is lost to a host that died between logging an incident and recording its webhook.

A stop is asked of the session (`LiveSource.stop_requested`, saved by whichever instance took the
request) and seen here, on the host whose worker runs it, within STOP_POLL_S: it works the same on
every backend, with no signal of its own."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from vidpulse.server import schemas
from vidpulse.server.backends.protocols import Backend
from vidpulse.server.config import Settings
from vidpulse.server.errors import ServiceUnavailable
from vidpulse.server.live.job import INCIDENT, LEVELS, PROGRESS, SCENE, STAGE
from vidpulse.server.live.resume import Earlier, earlier_attempts
from vidpulse.server.models import EventType, LiveProgress, Session, SessionState
from vidpulse.server.sessions.lifecycle import SessionLifecycle

log = logging.getLogger("vidpulse.live")

STOP_POLL_S = 0.5
OnMessage = Callable[[str, Any], Awaitable[None]]
# Beyond max_duration_s and reconnect_s, what a live job may take before it counts as stuck: its start,
# and writing the report.
_SLACK_S = 300.0


T = TypeVar("T", covariant=True)


class LiveWorker(Protocol[T]):
    """The worker process a live job runs on (server/jobs/pool.py's WorkerProcess, its Outcome as T)."""

    async def run(self, session_id: str, job: dict[str, Any], on_message: OnMessage, timeout_s: float) -> T: ...

    def request_stop(self) -> None: ...


class LiveDriver:
    def __init__(self, settings: Settings, lifecycle: SessionLifecycle, backend: Backend) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.backend = backend

    async def run(self, worker: LiveWorker[T], session: Session, out_dir: Path) -> T:
        """Run the session's live job on `worker`, its messages recorded as events, a client's stop passed
        on to it; how the job ended."""
        earlier = await earlier_attempts(self.backend.events, session)
        if earlier is not None:
            for incident in earlier.incidents:
                await self.lifecycle.webhooks.incident_changed(session, incident)
        job = self._job(session, out_dir, earlier)
        running = asyncio.ensure_future(worker.run(session.id, job, functools.partial(self.record, session),
                                                   self.timeout_s(session)))
        try:
            stopping = False
            while not running.done():
                await asyncio.wait({running}, timeout=STOP_POLL_S)
                if not running.done() and not stopping and await self._stop_requested(session.id):
                    log.info("stopping the live session")
                    worker.request_stop()
                    stopping = True
            return running.result()
        finally:
            running.cancel()  # the dispatcher was cancelled (the server stops): so is the job's follower

    async def _stop_requested(self, session_id: str) -> bool:
        try:
            current = await self.backend.sessions.get(session_id)
        except ServiceUnavailable:
            return False
        return current is not None and current.live is not None and current.live.stop_requested

    def _job(self, session: Session, out_dir: Path, earlier: Earlier | None) -> dict[str, Any]:
        """The job as it crosses the worker's pipe (plain values); server/live/job.py reads it."""
        assert session.live is not None
        return {"kind": "live", "url": session.live.url, "out_dir": str(out_dir), "options": session.options.to_dict(),
                "attempt": session.attempt, "name": session.filename,
                "allow_private": self.settings.allow_private_urls, "timeout_s": self.settings.fetch_timeout_s,
                "resume": None if earlier is None else earlier.resume().to_dict()}

    def timeout_s(self, session: Session) -> float:
        options = session.options.to_dict()
        return float(options["max_duration_s"]) + float(options["reconnect_s"]) + _SLACK_S

    async def record(self, session: Session, kind: str, payload: Any) -> None:
        """One message of the worker running `session`, as the event it announces."""
        if session.state is not SessionState.RUNNING:
            return
        lifecycle = self.lifecycle
        if kind == PROGRESS:
            session.progress = LiveProgress(attempt=session.attempt, stage="live", **payload)
            await lifecycle.log(session, EventType.PROGRESS, schemas.ProgressData(session.progress))
        elif kind == LEVELS:
            await lifecycle.log(session, EventType.LEVELS, schemas.LevelsData.model_validate(payload))
        elif kind == INCIDENT:
            incident = schemas.IncidentData.model_validate(payload)
            # Logged first: a superseded attempt's append is refused, so it announces nothing either.
            await lifecycle.log(session, EventType.INCIDENT, incident)
            await lifecycle.webhooks.incident_changed(session, incident)
        elif kind == SCENE:
            await lifecycle.record_scene(session, payload)
        elif kind == STAGE:
            await lifecycle.log(session, EventType.STAGE, schemas.StageData.model_validate(
                {"stage": payload, "attempt": session.attempt}))
