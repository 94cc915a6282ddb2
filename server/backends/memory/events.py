"""Event logs in memory, appended to each session's `events.jsonl`; ids are consecutive integers."""

from __future__ import annotations

from typing import Any

from vidpulse.server.backends.memory.state import MemoryState
from vidpulse.server.backends.protocols import Publisher
from vidpulse.server.models import Event, EventType, Session, event_order


class MemoryEventLog:
    def __init__(self, state: MemoryState, publisher: Publisher) -> None:
        self._state = state
        self._publisher = publisher

    async def append(self, session: Session, type: EventType, data: dict[str, Any]) -> Event:
        state = self._state
        if session.id not in state.sessions:
            return Event.create(None, session.id, type, data)  # removed meanwhile: nothing to log or tell
        state.check_fence(session.id)
        events = state.logs.setdefault(session.id, [])
        previous = int(events[-1].id or 0) if events else 0
        event = Event.create(str(previous + 1), session.id, type, data)
        events.append(event)
        session.last_event_id = event.id
        state.files.append(session.id, event.json)
        self._publisher.publish(event)
        return event

    async def events_after(self, session_id: str, after: str | None) -> list[Event]:
        events = self._state.logs.get(session_id, [])
        if after is None or not events:
            return list(events)
        # Ids are consecutive integers, so the position of `after` is arithmetic.
        skip = event_order(after)[0] - int(events[0].id or 0) + 1
        return events[max(0, skip):]

    async def watch(self, session_id: str) -> None:
        pass  # append publishes to the hub itself
