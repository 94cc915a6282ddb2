"""What the memory backend's parts share, and its start: sessions loaded from their folders.

Everything here runs on the event loop; an append assigns the id and publishes without awaiting,
so a subscriber that registers, snapshots and replays in one step never misses or doubles an event.
The files follow in a thread (files.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass, field

from vidpulse.server.backends import fencing
from vidpulse.server.backends.memory.files import FileWriter
from vidpulse.server.models import Event, Session
from vidpulse.server.storage.local import LocalStorage

log = logging.getLogger("vidpulse.backend")


@dataclass
class MemoryState:
    storage: LocalStorage
    files: FileWriter
    sessions: dict[str, Session] = field(default_factory=dict)
    logs: dict[str, list[Event]] = field(default_factory=dict)
    queue: deque[str] = field(default_factory=deque)
    queue_changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    inflight: set[str] = field(default_factory=set)  # taken by next_job, not yet job_done
    # Each session's current attempt (backends/fencing.py): set by begin_attempt, only ever grows.
    attempts: dict[str, int] = field(default_factory=dict)

    def check_fence(self, session_id: str) -> None:
        """Called by every write before it changes anything, with no await in between: a write of a
        superseded attempt raises AttemptSuperseded."""
        fencing.check(session_id, self.attempts.get(session_id))


class MemoryConnection:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def start(self) -> list[Session]:
        state = self._state
        state.storage.prepare()
        unfinished: list[Session] = []
        for name in state.storage.session_dirs():
            session = self._load(name)
            if session is None:
                continue
            state.sessions[session.id] = session
            if not session.state.finished:
                unfinished.append(session)
        orphans = state.storage.remove_orphans(set(state.sessions))
        if orphans:
            log.info("removed %d orphan folders from DATA_DIR", len(orphans))
        unfinished.sort(key=lambda s: s.created_at)
        return unfinished

    def _load(self, name: str) -> Session | None:
        paths = self._state.storage.paths(name)
        try:
            session = Session.from_manifest(json.loads(paths.manifest.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring %s: unreadable manifest (%s)", name, exc)
            return None
        events: list[Event] = []
        if paths.events.exists():
            for line in paths.events.read_text().splitlines():
                try:
                    events.append(Event.from_dict(json.loads(line)))
                except (ValueError, KeyError):
                    break  # a line torn by a crash ends the log
        self._state.logs[session.id] = events
        if events:
            session.last_event_id = events[-1].id
        return session

    async def close(self) -> None:
        self._state.queue.clear()
        await self._state.files.flush()

    async def ping(self) -> bool:
        return True
