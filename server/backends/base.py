"""The one protocol every backend implements."""

from __future__ import annotations

from typing import Any, Protocol

from ..models import Event, EventType, Session


class Backend(Protocol):
    name: str

    async def start(self) -> list[Session]:
        """Connect and load; returns the sessions that were queued or running before a restart."""

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    # Sessions
    async def add(self, session: Session) -> None: ...

    async def get(self, session_id: str) -> Session | None: ...

    async def save(self, session: Session) -> None: ...

    async def remove(self, session_id: str) -> None: ...

    async def sessions(self) -> list[Session]: ...

    # Event log: append assigns the id, persists, updates session.last_event_id and publishes.
    async def append(self, session: Session, type: EventType, data: dict[str, Any]) -> Event: ...

    async def events_after(self, session_id: str, after: str | None) -> list[Event]: ...

    # Job queue
    async def enqueue(self, session_id: str) -> None: ...

    async def next_job(self) -> str: ...

    async def dequeue(self, session_id: str) -> bool:
        """Take a queued job out of the queue; False when it was not queued."""

    async def queued(self) -> list[str]:
        """Queued session ids in the order they will run."""
