"""Reading sessions: lookups with the owner check, documents, paging, results, and following a
session's events."""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass

from vidpulse.server import schemas
from vidpulse.server.backends.protocols import Backend
from vidpulse.server.config import Settings
from vidpulse.server.errors import Conflict, NotFound, Unprocessable
from vidpulse.server.logs import bind_session
from vidpulse.server.models import Session, SessionState
from vidpulse.server.sessions.names import artifact_name_ok, artifact_object
from vidpulse.server.storage.base import Storage
from vidpulse.server.streams.hub import Hub, SubscriberClosed, SubscriberOverflow
from vidpulse.server.streams.subscriptions import Subscription, open_subscription


@dataclass
class SessionQueries:
    settings: Settings
    backend: Backend
    storage: Storage
    hub: Hub

    async def visible(self, session_id: str, owner: str | None) -> Session:
        session = await self.backend.sessions.get(session_id)
        # Another key's session answers exactly like a missing one: existence is not leaked.
        if session is None or (self.settings.api_keys and session.owner != owner):
            raise NotFound(f"No session {session_id!r}.")
        bind_session(session.id)
        return session

    async def document(self, session: Session) -> schemas.Session:
        return schemas.Session.of(session, await self.queue_position(session))

    async def queue_position(self, session: Session) -> int | None:
        if session.state is not SessionState.QUEUED:
            return None
        queued = await self.backend.jobs.queued()
        return queued.index(session.id) + 1 if session.id in queued else None

    async def list_page(self, owner: str | None, cursor: str | None, limit: int) -> schemas.SessionList:
        sessions = [s for s in await self.backend.sessions.all()
                    if not self.settings.api_keys or s.owner == owner]
        sessions.sort(key=_sort_key, reverse=True)
        if cursor:
            after = _decode_cursor(cursor)
            sessions = [s for s in sessions if _sort_key(s) < after]
        page = sessions[:limit]
        next_cursor = _encode_cursor(_sort_key(page[-1])) if len(sessions) > limit else None
        queued = await self.backend.jobs.queued()
        return schemas.SessionList(
            items=[schemas.Session.of(s, queued.index(s.id) + 1 if s.id in queued else None) for s in page],
            next_cursor=next_cursor)

    async def results(self, session_id: str, owner: str | None) -> bytes:
        session = await self.visible(session_id, owner)
        if session.state is not SessionState.SUCCEEDED:
            raise Conflict(f"Session {session_id} has no results: it is {session.state.value}.",
                           state=session.state.value)
        return await self.report(session)

    async def report(self, session: Session) -> bytes:
        return await self.storage.read_bytes(session.id, artifact_object(session, "report.json"))

    async def artifact(self, session_id: str, name: str, owner: str | None) -> tuple[str, str]:
        """The session's id and the artifact's object name, once `name` is a plain artifact name (a
        404 for one that could leave the artifacts folder); whether it exists is for storage to say."""
        session = await self.visible(session_id, owner)
        if not artifact_name_ok(name):
            raise NotFound(f"Session {session_id} has no file {name!r}.")
        return session.id, artifact_object(session, name)

    async def subscribe(self, session_id: str, owner: str | None, after: str | None,
                        transport: str = "sse") -> Subscription:
        await self.visible(session_id, owner)  # a 404 registers nothing

        async def load() -> tuple[Session, schemas.Session]:
            session = await self.visible(session_id, owner)
            return session, await self.document(session)

        return await open_subscription(self.backend.events, self.hub, session_id, load, after, transport)

    async def wait_finished(self, session_id: str, owner: str | None) -> Session:
        """Follows the session's events (whichever instance or worker runs it) to the end."""
        while True:
            subscription = await self.subscribe(session_id, owner, None, transport="internal")
            try:
                with contextlib.suppress(SubscriberOverflow, SubscriberClosed):
                    async for _ in subscription.events():
                        pass
                    return await self.visible(session_id, owner)
            finally:
                subscription.close()


def _sort_key(session: Session) -> tuple[str, str]:
    return (session.created_at.isoformat(), session.id)


def _encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode("|".join(key).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created, _, session_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("|")
    except ValueError as exc:
        raise Unprocessable("The cursor is not one this server gave out.", field="cursor") from exc
    if not session_id:
        raise Unprocessable("The cursor is not one this server gave out.", field="cursor")
    return created, session_id
