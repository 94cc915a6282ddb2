"""Sessions that outlive their process or their welcome: resumed after a restart, reconciled when
they lost their job, removed when they expire."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from vidpulse.server import schemas
from vidpulse.server.backends.protocols import Backend
from vidpulse.server.config import Settings
from vidpulse.server.models import EventType, Session, SessionState, parse_time, utcnow
from vidpulse.server.sessions.lifecycle import SessionLifecycle

log = logging.getLogger("vidpulse.sessions")


@dataclass
class Housekeeping:
    settings: Settings
    lifecycle: SessionLifecycle
    backend: Backend

    async def resume(self, unfinished: list[Session]) -> None:
        """Sessions that were queued or running when the server stopped: run them again."""
        lifecycle = self.lifecycle
        for session in unfinished:
            if session.state is SessionState.UPLOADING:
                if session.via == "url":  # the fetch died with the server; a tus upload simply resumes
                    await lifecycle.fail(session, "fetch_failed", "The server restarted while fetching the video.")
            elif session.state is SessionState.CANCELLING:
                await lifecycle.mark_cancelled(session)
            else:
                await lifecycle.requeue(session)

    async def reconcile(self) -> int:
        """Sessions left unfinished with no job (a crash between two steps, lost Redis data):
        queued again, or settled (a cancel in progress), exactly as after a restart."""
        orphans = await self.backend.jobs.jobless()
        for session in orphans:
            log.warning("session %s was %s with no job; queueing it again", session.id, session.state.value)
        await self.resume(orphans)
        return len(orphans)

    async def expire(self) -> int:
        ttl = timedelta(seconds=self.settings.session_ttl_s)
        now = utcnow()
        expired = [s for s in await self.backend.sessions.all()
                   if (s.state.finished and s.finished_at is not None and s.finished_at + ttl <= now)
                   or _upload_expired(s, now)]
        if expired and not await self.lifecycle.storage.ping():
            return 0  # with the store down the files could not go: the next sweep tries again
        for session in expired:
            await self.lifecycle.log(session, EventType.EXPIRED, schemas.Empty())
            await self.lifecycle.remove(session)
        return len(expired)


def _upload_expired(session: Session, now: datetime) -> bool:
    if session.state is not SessionState.UPLOADING or session.upload is None:
        return False
    expires = parse_time(session.upload.expires_at)
    return expires is not None and expires <= now
