"""The job queue of one process: a deque, and the jobs taken but not yet settled."""

from __future__ import annotations

from vidpulse.server.backends.fencing import AttemptSuperseded
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

    async def job_heartbeat(self, session_id: str, attempt: int | None) -> bool:
        # One process: nobody else can take the job; only a newer attempt can supersede this one.
        state = self._state
        return session_id in state.inflight and (attempt is None or state.attempts.get(session_id) == attempt)

    async def begin_attempt(self, session: Session) -> int | None:
        state = self._state
        if session.id not in state.inflight:
            raise AttemptSuperseded(session.id, None, "the job is no longer taken by this server")
        stored = state.sessions.get(session.id)
        if stored is None or stored.state.finished:
            return None
        number = max(state.attempts.get(session.id, 0), stored.attempts) + 1
        state.attempts[session.id] = number
        return number

    async def hand_back(self, session_id: str) -> None:
        pass  # stays in `inflight` until the server closes; its next start queues the session again

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
