"""The job queue of one process: a deque, and the jobs taken but not yet settled."""

from __future__ import annotations

from vidpulse.server.backends.memory.state import MemoryState
from vidpulse.server.models import JOB_STATES, Session


class MemoryJobQueue:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def enqueue(self, session_id: str) -> int:
        state = self._state
        async with state.queue_changed:
            state.queue.append(session_id)
            state.queue_changed.notify()
            return len(state.queue)

    async def next_job(self) -> str:
        state = self._state
        async with state.queue_changed:
            await state.queue_changed.wait_for(lambda: bool(state.queue))
            session_id = state.queue.popleft()
            state.inflight.add(session_id)
            return session_id

    async def job_done(self, session_id: str) -> None:
        self._state.inflight.discard(session_id)

    async def job_heartbeat(self, session_id: str) -> None:
        pass

    async def dequeue(self, session_id: str) -> bool:
        if session_id in self._state.queue:
            self._state.queue.remove(session_id)
            return True
        return False

    async def queued(self) -> list[str]:
        return list(self._state.queue)

    async def jobless(self) -> list[Session]:
        state = self._state
        return [s for s in state.sessions.values()
                if s.state in JOB_STATES and s.id not in state.queue and s.id not in state.inflight]
