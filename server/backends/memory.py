"""The embedded backend: sessions in a dict, a manifest and an event log file per session folder.

Everything here runs on the event loop; an append assigns the id and publishes without awaiting,
so a subscriber that registers, snapshots and replays in one step never misses or doubles an event.
The files follow in a thread (`_FileWriter`): a slow or stalled disk never stalls the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from vidpulse.server.backends.protocols import CancelHandler
from vidpulse.server.config import Settings
from vidpulse.server.models import JOB_STATES, Event, EventType, Session, event_order
from vidpulse.server.storage.local import LocalStorage, write_json_atomic
from vidpulse.server.streams.hub import Hub

log = logging.getLogger("vidpulse.backend")


class _FileWriter:
    """Event-log lines and manifests, written in a thread in batches: per session, lines land in
    order and the manifest that lands is the latest one saved."""

    def __init__(self, storage: LocalStorage) -> None:
        self._storage = storage
        self._lines: dict[str, list[str]] = {}
        self._manifests: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._writing: asyncio.Future[None] | None = None

    def append(self, session_id: str, line: str) -> None:
        self._lines.setdefault(session_id, []).append(line)
        self._wake.set()

    def save(self, session_id: str, manifest: dict[str, Any]) -> None:
        self._manifests[session_id] = manifest
        self._wake.set()

    async def forget(self, session_id: str) -> None:
        """Drop what is pending for a session about to be removed, and let a batch in progress
        end, so no write recreates a folder after it is gone."""
        self._lines.pop(session_id, None)
        self._manifests.pop(session_id, None)
        if self._writing is not None:
            await asyncio.shield(self._writing)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        if self._writing is not None:
            await asyncio.shield(self._writing)  # one batch at a time keeps each file in order
        lines, manifests = self._lines, self._manifests
        if not lines and not manifests:
            return
        self._lines, self._manifests = {}, {}
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, lines, manifests))
        try:
            # Shielded: a batch already handed to the thread finishes even if this task is cancelled.
            await asyncio.shield(self._writing)
        finally:
            if self._writing.done():
                self._writing = None

    def _write(self, lines: dict[str, list[str]], manifests: dict[str, dict[str, Any]]) -> None:
        for session_id in lines.keys() | manifests.keys():
            paths = self._storage.paths(session_id)
            try:
                if session_id in lines:
                    with paths.events.open("a") as log_file:
                        log_file.write("".join(line + "\n" for line in lines[session_id]))
                if session_id in manifests:
                    write_json_atomic(paths.manifest, manifests[session_id])
            except FileNotFoundError:
                pass  # removed meanwhile
            except OSError:
                log.exception("could not write the files of %s", session_id)


class MemoryBackend:
    name = "memory"
    retries_crashed_jobs = False

    def __init__(self, settings: Settings, storage: LocalStorage, hub: Hub) -> None:
        self._storage = storage
        self._hub = hub
        self._sessions: dict[str, Session] = {}
        self._logs: dict[str, list[Event]] = {}
        self._queue: deque[str] = deque()
        self._inflight: set[str] = set()  # taken by next_job, not yet job_done
        self._queue_changed = asyncio.Condition()
        self._cancel_handler: CancelHandler | None = None
        self._files = _FileWriter(storage)
        self._locks: dict[str, tuple[str, float]] = {}  # name -> (token, monotonic deadline)

    async def start(self) -> list[Session]:
        self._storage.prepare()
        unfinished: list[Session] = []
        for name in self._storage.session_dirs():
            session = self._load(name)
            if session is None:
                continue
            self._sessions[session.id] = session
            if not session.state.finished:
                unfinished.append(session)
        orphans = self._storage.remove_orphans(set(self._sessions))
        if orphans:
            log.info("removed %d orphan folders from DATA_DIR", len(orphans))
        unfinished.sort(key=lambda s: s.created_at)
        return unfinished

    def _load(self, name: str) -> Session | None:
        paths = self._storage.paths(name)
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
        self._logs[session.id] = events
        if events:
            session.last_event_id = events[-1].id
        return session

    async def close(self) -> None:
        self._queue.clear()
        await self._files.flush()

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {"session-files": self._files.run}

    async def ping(self) -> bool:
        return True

    async def add(self, session: Session) -> None:
        self._storage.paths(session.id).root.mkdir(parents=True, exist_ok=True)
        self._sessions[session.id] = session
        self._logs[session.id] = []
        await self.save(session)

    async def submit(self, session: Session) -> int:
        await self.add(session)  # nothing awaits in between: no other task sees it without its job
        return await self.enqueue(session.id)

    async def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    async def save(self, session: Session) -> None:
        if session.id in self._sessions:
            self._files.save(session.id, session.to_manifest())

    async def remove(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        self._logs.pop(session_id, None)
        if session_id in self._queue:
            self._queue.remove(session_id)
        await self._files.forget(session_id)
        # A batch written while the folder was being removed may have recreated it: the folder
        # holds this backend's own files, so it goes again once no write is pending.
        await asyncio.to_thread(shutil.rmtree, self._storage.paths(session_id).root, True)

    async def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    async def save_upload(self, session: Session) -> None:
        # One process, one Session object per id: the manifest is the only thing to update.
        stored = self._sessions.get(session.id)
        if stored is not None:
            stored.upload, stored.progress = session.upload, session.progress
            await self.save(stored)

    async def append(self, session: Session, type: EventType, data: dict[str, Any]) -> Event:
        if session.id not in self._sessions:
            return Event.create(None, session.id, type, data)  # removed meanwhile: nothing to log or tell
        events = self._logs.setdefault(session.id, [])
        previous = int(events[-1].id or 0) if events else 0
        event = Event.create(str(previous + 1), session.id, type, data)
        events.append(event)
        session.last_event_id = event.id
        self._files.append(session.id, event.json)
        self._hub.publish(event)
        return event

    async def events_after(self, session_id: str, after: str | None) -> list[Event]:
        events = self._logs.get(session_id, [])
        if after is None or not events:
            return list(events)
        # Ids are consecutive integers, so the position of `after` is arithmetic.
        skip = event_order(after)[0] - int(events[0].id or 0) + 1
        return events[max(0, skip):]

    async def watch(self, session_id: str) -> None:
        pass  # append publishes to the hub itself

    async def job_done(self, session_id: str) -> None:
        self._inflight.discard(session_id)

    async def job_heartbeat(self, session_id: str) -> None:
        pass

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel_handler = handler

    async def request_cancel(self, session_id: str) -> None:
        if self._cancel_handler is not None:
            self._cancel_handler(session_id)

    async def report_workers(self, alive: int) -> None:
        pass  # one process: readiness asks the pool directly

    async def workers_alive(self, local: int) -> int:
        return local

    async def enqueue(self, session_id: str) -> int:
        async with self._queue_changed:
            self._queue.append(session_id)
            self._queue_changed.notify()
            return len(self._queue)

    async def next_job(self) -> str:
        async with self._queue_changed:
            await self._queue_changed.wait_for(lambda: bool(self._queue))
            session_id = self._queue.popleft()
            self._inflight.add(session_id)
            return session_id

    async def dequeue(self, session_id: str) -> bool:
        if session_id in self._queue:
            self._queue.remove(session_id)
            return True
        return False

    async def queued(self) -> list[str]:
        return list(self._queue)

    async def jobless(self) -> list[Session]:
        return [s for s in self._sessions.values()
                if s.state in JOB_STATES and s.id not in self._queue and s.id not in self._inflight]
    async def try_lock(self, name: str, token: str, ttl_s: float) -> bool:
        holder = self._locks.get(name)
        now = time.monotonic()
        if holder is not None and holder[0] != token and holder[1] > now:
            return False
        self._locks[name] = (token, now + ttl_s)
        return True

    async def refresh_lock(self, name: str, token: str, ttl_s: float) -> bool:
        holder = self._locks.get(name)
        now = time.monotonic()
        if holder is None or holder[0] != token or holder[1] <= now:
            return False  # as on Redis: an expired lock is lost, even if nobody took it
        self._locks[name] = (token, now + ttl_s)
        return True

    async def unlock(self, name: str, token: str) -> None:
        if self._locks.get(name, ("",))[0] == token:
            del self._locks[name]
