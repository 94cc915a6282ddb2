"""Event logs in memory, appended to each session's `events.jsonl`; ids are increasing integers
(consecutive but where a live session's expired events were trimmed)."""

from __future__ import annotations

import bisect
import time
from datetime import timedelta
from typing import Any

from vidpulse.server.backends.memory.state import MemoryState
from vidpulse.server.backends.protocols import Publisher
from vidpulse.server.models import EXPIRING_EVENTS, Event, EventType, Session, event_order, isoformat, utcnow

# How often a live session's log is trimmed, at most (each trim copies the log of the last LIVE_LOG_S).
TRIM_EVERY_S = 60.0


class MemoryEventLog:
    def __init__(self, state: MemoryState, publisher: Publisher, keep_s: float = 3600.0) -> None:
        self._state = state
        self._publisher = publisher
        self._keep_s = keep_s  # LIVE_LOG_S
        self._trimmed: dict[str, float] = {}  # live session -> when its log was last trimmed (monotonic)

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
        if session.kind == "live" and type in EXPIRING_EVENTS:
            self._trim(session.id, events)
        return event

    def _trim(self, session_id: str, events: list[Event]) -> None:
        """Drop the expiring events older than LIVE_LOG_S (never the newest event: it carries the id
        the next one follows)."""
        now = time.monotonic()
        if now - self._trimmed.get(session_id, -TRIM_EVERY_S) < min(TRIM_EVERY_S, self._keep_s / 4):
            return
        self._trimmed[session_id] = now
        cutoff = isoformat(utcnow() - timedelta(seconds=self._keep_s)) or ""
        kept = [e for e in events[:-1] if e.type not in EXPIRING_EVENTS or e.ts >= cutoff] + events[-1:]
        if len(kept) < len(events):
            self._state.logs[session_id] = kept
            self._state.files.replace(session_id, [e.json for e in kept])

    async def events_after(self, session_id: str, after: str | None) -> list[Event]:
        events = self._state.logs.get(session_id, [])
        if after is None or not events:
            return list(events)
        # From a trimmed id on, the replay starts at the oldest event kept after it.
        return events[bisect.bisect_right(events, event_order(after), key=lambda e: event_order(e.id or "0")):]

    async def watch(self, session_id: str) -> None:
        pass  # append publishes to the hub itself
