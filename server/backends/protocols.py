"""The backend as the narrow parts its callers need: sessions, the event log, the job queue,
signals between instances, and locks. Each backend (memory, redis) implements every part, one
module per part, and `Backend` bundles them with the connection they share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vidpulse.server.models import Event, EventType, Session

CancelHandler = Callable[[str], object]
Loop = Callable[[], Awaitable[None]]


class Publisher(Protocol):
    """Where a backend hands the events its instance's live subscribers wait for (the hub)."""

    def publish(self, event: Event) -> None: ...

    def count(self, session_id: str) -> int:
        """Live subscribers of the session on this instance."""

    def close_all(self) -> None:
        """End every live stream (the clients resume from their last event id)."""


class SessionStore(Protocol):
    """`save` made as an attempt that is no longer current raises AttemptSuperseded and saves
    nothing (fencing.py)."""

    async def add(self, session: Session) -> None: ...

    async def submit(self, session: Session) -> int:
        """Add a new session and queue its job. A failure that raises leaves what the caller undoes
        with `remove`; a crash half-way, a session that `JobQueue.jobless` finds. Returns its 1-based
        queue position."""

    async def get(self, session_id: str) -> Session | None: ...

    async def save(self, session: Session) -> None: ...

    async def remove(self, session_id: str) -> None: ...

    async def all(self) -> list[Session]: ...

    async def save_upload(self, session: Session) -> None:
        """Persist `session.upload` and `session.progress` alone: an upload in flight never rewrites the
        rest of the session, so it cannot undo a cancel made meanwhile elsewhere."""


class EventLog(Protocol):
    """Append assigns the id, persists and updates session.last_event_id; the event reaches the
    hub's live subscribers (directly, or through the instance's stream reader). An append made as an
    attempt that is no longer current raises AttemptSuperseded and logs nothing (fencing.py)."""

    async def append(self, session: Session, type: EventType, data: dict[str, Any]) -> Event: ...

    async def events_after(self, session_id: str, after: str | None) -> list[Event]: ...

    async def watch(self, session_id: str) -> None:
        """A local subscriber is about to snapshot this session: from now on its events must
        reach the hub. Called before the snapshot is read."""


class JobQueue(Protocol):
    async def enqueue(self, session_id: str) -> int:
        """Queue the job; returns its 1-based position at that moment."""

    async def next_job(self) -> str: ...

    async def job_done(self, session_id: str) -> None:
        """The job taken by next_job is settled: acknowledged (never delivered again) if this
        instance still holds it, forgotten here either way."""

    async def job_heartbeat(self, session_id: str, attempt: int | None) -> bool:
        """Keeps the job claimed while this instance works on it; False when it holds it no longer
        (another instance claimed it while this one was silent) or `attempt` is no longer the
        session's current one. Also the check before a job's last word (its terminal state)."""

    async def begin_attempt(self, session: Session) -> int | None:
        """Number the next attempt of the job this instance took and make it the session's current
        attempt (fencing.py), only while the job is surely still this instance's (else
        AttemptSuperseded; Redis: redis/queue.py says how). None when the session has ended
        meanwhile: nothing to run."""

    async def hand_back(self, session_id: str) -> None:
        """This instance stops: the job it took goes back for another to run. Redis: at once, ahead
        of the queue, for any instance; memory: the queue ends with the server, whose next start
        queues the unfinished session again (until then the job stays taken, so nothing here runs
        it meanwhile)."""

    async def dequeue(self, session_id: str) -> bool:
        """Take a queued job out of the queue; False when it was not queued."""

    async def queued(self) -> list[str]:
        """Queued session ids in the order they will run."""

    async def jobless(self) -> list[Session]:
        """Unfinished sessions that no job will ever run (a crash between two steps, a job lost
        with Redis's data). Redis answers on one instance at a time (a short lock), so two
        instances never queue the same session twice."""


class Signals(Protocol):
    """Cancel requests to whichever instance runs a job, and the worker count across instances."""

    def on_cancel(self, handler: CancelHandler) -> None:
        """Where cancel requests for running jobs go on this instance (its worker pool)."""

    async def request_cancel(self, session_id: str) -> None: ...

    async def report_workers(self, alive: int) -> None:
        """Heartbeat of this instance's worker pool."""

    async def workers_alive(self, local: int) -> int:
        """Worker processes alive across every instance, given this instance's own count."""


class Locks(Protocol):
    """Named locks with a lease (one PATCH at a time per resumable upload, whichever instance it
    lands on)."""

    async def try_lock(self, name: str, token: str, ttl_s: float) -> bool:
        """Take the lock `name` for `ttl_s` unless another token holds it."""

    async def refresh_lock(self, name: str, token: str, ttl_s: float) -> bool:
        """Extend a lock this token holds; False when it was lost (expired)."""

    async def unlock(self, name: str, token: str) -> None:
        """Release the lock if this token still holds it."""


class Connection(Protocol):
    async def start(self) -> list[Session]:
        """Connect and load; returns the sessions that were queued or running before a restart
        and that this backend wants queued again (none for Redis: its queue survives)."""

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...


@dataclass(frozen=True)
class Backend:
    name: str
    # Redis runs a job whose worker process died again elsewhere; in one process that would
    # only crash the same way, so the memory backend fails it.
    retries_crashed_jobs: bool
    # Redis: jobs outlive an instance and any instance may take them (a handed-back job runs
    # elsewhere at once); memory: the queue lives and dies with its one server.
    shared_jobs: bool
    connection: Connection
    sessions: SessionStore
    events: EventLog
    jobs: JobQueue
    signals: Signals
    locks: Locks
    # The backend's long-lived tasks, which the runtime runs under its supervisor.
    loops: dict[str, Loop] = field(default_factory=dict)
