"""Sessions in a dict, each saved as its folder's manifest."""

from __future__ import annotations

import asyncio
import shutil

from vidpulse.server.backends.memory.queue import MemoryJobQueue
from vidpulse.server.backends.memory.state import MemoryState
from vidpulse.server.models import Session


class MemorySessions:
    def __init__(self, state: MemoryState, jobs: MemoryJobQueue) -> None:
        self._state = state
        self._jobs = jobs

    async def add(self, session: Session) -> None:
        self._state.storage.paths(session.id).root.mkdir(parents=True, exist_ok=True)
        self._state.sessions[session.id] = session
        self._state.logs[session.id] = []
        await self.save(session)

    async def submit(self, session: Session) -> int:
        await self.add(session)  # nothing awaits in between: no other task sees it without its job
        return await self._jobs.enqueue(session.id)

    async def get(self, session_id: str) -> Session | None:
        return self._state.sessions.get(session_id)

    async def save(self, session: Session) -> None:
        if session.id in self._state.sessions:
            self._state.check_fence(session.id)
            self._state.files.save(session.id, session.to_manifest())

    async def remove(self, session_id: str) -> None:
        state = self._state
        state.sessions.pop(session_id, None)
        state.logs.pop(session_id, None)
        state.attempts.pop(session_id, None)
        if session_id in state.queue:
            state.queue.remove(session_id)
        await state.files.forget(session_id)
        # A batch written while the folder was being removed may have recreated it: the folder
        # holds this backend's own files, so it goes again once no write is pending.
        await asyncio.to_thread(shutil.rmtree, state.storage.paths(session_id).root, True)

    async def all(self) -> list[Session]:
        return list(self._state.sessions.values())

    async def save_upload(self, session: Session) -> None:
        # One process, one Session object per id: the manifest is the only thing to update.
        stored = self._state.sessions.get(session.id)
        if stored is not None:
            stored.upload, stored.progress = session.upload, session.progress
            await self.save(stored)
