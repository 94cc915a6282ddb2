"""What a client asks of a session once it exists: cancel it, or delete it with its files."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vidpulse.processing import AnalysisOptions
from vidpulse.processing.live.options import LiveOptions
from vidpulse.server.backends.protocols import Backend
from vidpulse.server.errors import Conflict, Gone
from vidpulse.server.models import Session, SessionState
from vidpulse.server.sessions.lifecycle import SessionLifecycle
from vidpulse.server.sessions.options import parse_options
from vidpulse.server.sessions.queries import SessionQueries
from vidpulse.server.storage.base import SOURCE

log = logging.getLogger("vidpulse.sessions")

_WAIT_FOR_STOP_S = 10.0


@dataclass
class SessionControl:
    queries: SessionQueries
    lifecycle: SessionLifecycle
    backend: Backend

    async def cancel(self, session_id: str, owner: str | None) -> Session:
        """Idempotent: a session already `cancelling` or `cancelled` is answered as it is. A queued
        job is cancelled at once; a running one is asked to stop and is `cancelling` until its worker
        confirms (within one frame). A session that ended otherwise is a Conflict."""
        session = await self.queries.visible(session_id, owner)
        if session.state is SessionState.CANCELLED:
            return session
        if session.state.finished:
            raise Conflict(f"Session {session_id} already {session.state.value}.", state=session.state.value)
        lifecycle = self.lifecycle
        if session.state is SessionState.UPLOADING:
            # No worker holds it: the PATCH or fetch in flight sees the new state and stops.
            await lifecycle.mark_cancelled(session)
            await lifecycle.storage.delete(session.id, SOURCE)
            await lifecycle.storage.release(session.id)
        elif session.state is SessionState.QUEUED and await self.backend.jobs.dequeue(session.id):
            await lifecycle.mark_cancelled(session)
            await lifecycle.announce_positions()
        elif session.state is not SessionState.CANCELLING:
            # Running, or just taken off the queue by a worker that will see this state first.
            session.state = SessionState.CANCELLING
            await self.backend.sessions.save(session)
            await self.backend.signals.request_cancel(session.id)
        return session

    async def stop(self, session_id: str, owner: str | None) -> Session:
        """A live session ends with a report of what it saw (succeeded) once the host running it sees
        the request (within a second); one still queued saw nothing, and is cancelled."""
        session = await self.queries.visible(session_id, owner)
        if session.kind != "live" or session.live is None:
            raise Conflict(f"Session {session_id} is not live; cancel ends a file's analysis.",
                           state=session.state.value)
        if session.state.finished:
            raise Conflict(f"Session {session_id} already {session.state.value}.", state=session.state.value)
        if session.state is SessionState.QUEUED and await self.backend.jobs.dequeue(session.id):
            await self.lifecycle.mark_cancelled(session)
            await self.lifecycle.announce_positions()
        elif not session.live.stop_requested:
            session.live = session.live.model_copy(update={"stop_requested": True})
            await self.backend.sessions.save(session)
        return session

    async def retry(self, session_id: str, owner: str | None, options: Mapping[str, Any] | None) -> Session:
        """A finished session queued again as a new attempt on the same log, with new options if given."""
        session = await self.queries.visible(session_id, owner)
        if not session.state.finished:
            raise Conflict(f"Session {session_id} is {session.state.value}; only a finished session can be "
                           "analysed again.", state=session.state.value)
        # A live session runs again by following its source again: it has no stored video.
        live = session.kind == "live"
        parsed = None if options is None else parse_options(options, LiveOptions if live else AnalysisOptions)
        if parsed is not None:
            await self.lifecycle.webhooks.check_incidents_of(session.id, parsed)
        if not live and await self.lifecycle.storage.size(session.id, SOURCE) is None:
            raise Gone(f"The video of session {session_id} is no longer stored; upload it again.")
        if session.live is not None:  # the last run's stop is not the new one's
            session.live = session.live.model_copy(update={"stop_requested": False})
        await self.lifecycle.retry(session, parsed)
        return session

    async def delete(self, session_id: str, owner: str | None) -> None:
        session = await self.queries.visible(session_id, owner)
        if not session.state.finished:
            await self.cancel(session_id, owner)
            try:
                await asyncio.wait_for(self.queries.wait_finished(session_id, owner), _WAIT_FOR_STOP_S)
            except TimeoutError:
                log.warning("session %s did not stop in time; removing it anyway", session_id)
        await self.lifecycle.remove(session)
