"""The Redis backend: API instances and worker machines share sessions, jobs and events.

Keys (prefix `vp:`):
- `session:{id}`   hash: `doc` (the manifest JSON), `state`, and `progress` (written with each
                   progress event, apart from `doc` so a worker never overwrites a cancel).
- `sessions`       sorted set of ids by creation time: the list across instances.
- `events:{id}`    stream: the session's event log; stream ids are the event ids.
- `jobs`           stream with consumer group `workers`: at-least-once delivery. A worker that
                   dies leaves its entry pending; others claim it (XAUTOCLAIM) once it has been
                   idle for JOB_VISIBILITY_S, which progress heartbeats (XCLAIM by the owner) keep
                   from happening while the job is alive.
- `queued`         sorted set: the waiting jobs in order, for positions and queued cancels.
- `cancel:{id}`    flag, plus a notice on the `cancel` channel to every worker host.
- `workers:{inst}` worker heartbeat per instance, with a short TTL.

Live events: one reader per instance follows, with a blocking XREAD, the streams of the sessions
that have local subscribers, and publishes into the hub; clients never cost a Redis connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from vidpulse.server.backends.protocols import CancelHandler
from vidpulse.server.config import Settings
from vidpulse.server.errors import ServiceUnavailable
from vidpulse.server.models import JOB_STATES, Event, EventType, Session, event_order
from vidpulse.server.storage.local import Storage
from vidpulse.server.streams.hub import Hub

log = logging.getLogger("vidpulse.redis")

P = "vp:"
JOBS, GROUP, QUEUED, SESSIONS, CANCEL_CHANNEL = P + "jobs", "workers", P + "queued", P + "sessions", P + "cancel"
RECONCILE_LOCK = P + "reconcile"
_READ_BLOCK_MS = 250
# Never recreate the hash of a session removed meanwhile (a PATCH racing a DELETE).
_SAVE_UPLOAD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'upload', ARGV[1])
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'progress') else redis.call('HSET', KEYS[1], 'progress', ARGV[2]) end
return 1
"""
# A save or an event of a session removed meanwhile (a job's last word racing a DELETE) must not
# bring its keys back: they would have no list entry, no files and no expiry.
_SAVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'state', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return 1
"""
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local id = redis.call('XADD', KEYS[2], '*', 'type', ARGV[1], 'ts', ARGV[2], 'data', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'progress', ARGV[4]) end
return id
"""
_REFRESH_LOCK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_HEARTBEAT_TTL_S = 15
_RETRIES = 3
T = TypeVar("T")


class BackendUnavailable(ServiceUnavailable):
    slug = "backend-unavailable"


def _session_key(session_id: str) -> str:
    return f"{P}session:{session_id}"


def _events_key(session_id: str) -> str:
    return f"{P}events:{session_id}"


def _stream_id(event_id: str) -> str:
    major, minor = event_order(event_id)
    return f"{major}-{minor}"


class RedisBackend:
    name = "redis"
    retries_crashed_jobs = True

    def __init__(self, settings: Settings, storage: Storage, hub: Hub) -> None:
        self._settings = settings
        self._storage = storage
        self._hub = hub
        # Typed Any: redis-py declares each reply as the union of every shape a command can return.
        self._redis: Any = _client(settings.redis_url)
        # Blocking reads get connections of their own so they never hold up ordinary commands.
        self._blocking: Any = _client(settings.redis_url)
        self._instance = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._inflight: dict[str, str] = {}  # session id -> job stream entry id
        self._last_heartbeat: dict[str, float] = {}
        self._positions: dict[str, str] = {}  # watched session -> last event id delivered
        self._watch_changed = asyncio.Event()
        self._cancel_handler: CancelHandler | None = None
        self._visibility_ms = int(settings.job_visibility_s * 1000)

    # Lifecycle -------------------------------------------------------------------------------

    async def start(self) -> list[Session]:
        with contextlib.suppress(RedisError):
            await self._ensure_group()
        return []  # the job stream survives restarts; nothing to queue again

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(JOBS, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {"redis-events": self._follow_events, "redis-cancels": self._listen_for_cancels}

    async def close(self) -> None:
        with contextlib.suppress(RedisError):
            await self._redis.delete(f"{P}workers:{self._instance}")
        await self._redis.aclose()
        await self._blocking.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        # Transient connection errors (a killed connection, a failover) were already retried on a
        # fresh connection by redis-py's Retry (see _client); what reaches here is an outage.
        try:
            return await operation()
        except RedisError as exc:
            raise BackendUnavailable("Redis is not answering; try again in a moment.") from exc

    # Sessions --------------------------------------------------------------------------------

    async def add(self, session: Session) -> None:
        async def add() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(_session_key(session.id), mapping=self._fields(session))
                pipe.zadd(SESSIONS, {session.id: session.created_at.timestamp()})
                await pipe.execute()

        await self._call(add)

    async def submit(self, session: Session) -> int:
        async def submit() -> int:
            # One MULTI: the session, its place in the list and its job exist together or not at all.
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(_session_key(session.id), mapping=self._fields(session))
                pipe.zadd(SESSIONS, {session.id: session.created_at.timestamp()})
                pipe.zadd(QUEUED, {session.id: time.time()})
                pipe.zrank(QUEUED, session.id)
                pipe.xadd(JOBS, {"session": session.id})
                _, _, _, rank, _ = await pipe.execute()
            return int(rank) + 1

        return await self._call(submit)

    def _fields(self, session: Session) -> dict[str, str]:
        return {"doc": json.dumps(session.to_manifest()), "state": session.state.value}

    async def get(self, session_id: str) -> Session | None:
        async def get() -> tuple[list[str | None], list[Any]]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hmget(_session_key(session_id), ["doc", "progress", "upload"])
                pipe.xrevrange(_events_key(session_id), count=1)
                fields, tail = await pipe.execute()
            return fields, tail

        (doc, progress, upload), tail = await self._call(get)
        if doc is None:
            return None
        session = _session(doc, upload)
        session.last_event_id = tail[0][0] if tail else None
        if progress and not session.state.finished:
            session.progress = json.loads(progress)
        return session

    async def save(self, session: Session) -> None:
        fields = self._fields(session)
        # Expiry removes files and sends `expired`; the TTL only guards against leaks.
        ttl = str(int(self._settings.session_ttl_s) + 3600) if session.state.finished else ""
        keys = (_session_key(session.id), _events_key(session.id))
        await self._call(lambda: self._redis.eval(_SAVE, 2, *keys, fields["doc"], fields["state"], ttl))

    async def remove(self, session_id: str) -> None:
        async def remove() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(_session_key(session_id), _events_key(session_id), f"{P}cancel:{session_id}")
                pipe.zrem(SESSIONS, session_id)
                pipe.zrem(QUEUED, session_id)
                await pipe.execute()

        await self._call(remove)

    async def sessions(self) -> list[Session]:
        async def load() -> list[list[str | None]]:
            ids = await self._redis.zrange(SESSIONS, 0, -1)
            if not ids:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for session_id in ids:
                    pipe.hmget(_session_key(session_id), ["doc", "upload"])
                return list(await pipe.execute())

        rows = await self._call(load)
        return [_session(doc, upload) for doc, upload in rows if doc]

    async def save_upload(self, session: Session) -> None:
        upload = json.dumps(session.upload)
        progress = "" if session.progress is None else json.dumps(session.progress)
        await self._call(lambda: self._redis.eval(_SAVE_UPLOAD, 1, _session_key(session.id), upload, progress))

    # Events ----------------------------------------------------------------------------------

    async def append(self, session: Session, type: EventType, data: dict[str, Any]) -> Event:
        event = Event.create(None, session.id, type, data)

        progress = ""
        if type in (EventType.PROGRESS, EventType.STAGE) and session.progress is not None:
            progress = json.dumps(session.progress)
        keys = (_session_key(session.id), _events_key(session.id))
        entry_id = await self._call(lambda: self._redis.eval(_APPEND, 2, *keys, type.value, event.ts,
                                                             json.dumps(data), progress))
        if entry_id is None:
            return event  # removed meanwhile: nothing logged, nobody to tell
        session.last_event_id = str(entry_id)
        return Event(str(entry_id), session.id, type, event.ts, data)

    async def events_after(self, session_id: str, after: str | None) -> list[Event]:
        start = "-" if after is None else "(" + _stream_id(after)
        entries = await self._call(lambda: self._redis.xrange(_events_key(session_id), min=start))
        return [_event(session_id, entry_id, fields) for entry_id, fields in entries]

    async def watch(self, session_id: str) -> None:
        if session_id in self._positions:
            return
        tail = await self._call(lambda: self._redis.xrevrange(_events_key(session_id), count=1))
        self._positions.setdefault(session_id, tail[0][0] if tail else "0-0")
        self._watch_changed.set()

    async def _follow_events(self) -> None:
        """The instance's one reader: blocking XREAD over every watched stream, into the hub.

        It resumes from the ids it had reached, so a connection error costs the live streams
        nothing; only Redis gone for longer than REDIS_OUTAGE_GRACE_S ends them (clients resume
        with Last-Event-ID once it is back)."""
        backoff = 0.05
        outage_since: float | None = None
        while True:
            for session_id in [s for s in self._positions if self._hub.count(s) == 0]:
                del self._positions[session_id]
            if not self._positions:
                self._watch_changed.clear()
                await self._watch_changed.wait()
                continue
            streams = {_events_key(s): position for s, position in self._positions.items()}
            try:
                response = await self._blocking.xread(streams, count=500, block=_READ_BLOCK_MS)
                backoff, outage_since = 0.05, None
            except RedisError:
                now = time.monotonic()
                outage_since = outage_since or now
                if now - outage_since < self._settings.redis_outage_grace_s:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 1.0)
                    continue
                log.warning("lost Redis for %.0f s while following events; live streams end and clients resume",
                            now - outage_since)
                self._hub.close_all()
                self._positions.clear()
                outage_since = None
                continue
            for key, entries in response or []:
                session_id = key.removeprefix(f"{P}events:")
                for entry_id, fields in entries:
                    if session_id in self._positions:
                        self._positions[session_id] = entry_id
                    self._hub.publish(_event(session_id, entry_id, fields))

    # Jobs ------------------------------------------------------------------------------------

    async def enqueue(self, session_id: str) -> int:
        async def enqueue() -> int:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(QUEUED, {session_id: time.time()})
                pipe.zrank(QUEUED, session_id)
                pipe.xadd(JOBS, {"session": session_id})
                _, rank, _ = await pipe.execute()
            return int(rank) + 1

        return await self._call(enqueue)

    async def next_job(self) -> str:
        while True:
            entry = await self._call(self._claim_stale) or await self._call(self._read_new)
            if entry is None:
                continue
            entry_id, session_id = entry
            self._inflight[session_id] = entry_id
            await self.dequeue(session_id)
            return session_id

    async def _claim_stale(self) -> tuple[str, str] | None:
        """A job whose worker stopped heartbeating (killed, machine gone) is taken over."""
        try:
            _, claimed, *_ = await self._redis.xautoclaim(JOBS, GROUP, self._instance,
                                                          min_idle_time=self._visibility_ms, count=1)
        except ResponseError:
            await self._ensure_group()
            return None
        for entry_id, fields in claimed:
            if fields:
                log.info("claimed job %s of a silent worker", fields.get("session"))
                return entry_id, fields["session"]
        return None

    async def _read_new(self) -> tuple[str, str] | None:
        try:
            response = await self._blocking.xreadgroup(GROUP, self._instance, {JOBS: ">"}, count=1, block=2000)
        except ResponseError:
            await self._ensure_group()
            return None
        for _, entries in response or []:
            for entry_id, fields in entries:
                return entry_id, fields["session"]
        return None

    async def job_done(self, session_id: str) -> None:
        entry_id = self._inflight.pop(session_id, None)
        self._last_heartbeat.pop(session_id, None)
        if entry_id is not None:
            async def ack() -> None:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.xack(JOBS, GROUP, entry_id)
                    pipe.xdel(JOBS, entry_id)
                    await pipe.execute()

            await self._call(ack)

    async def job_heartbeat(self, session_id: str) -> None:
        entry_id = self._inflight.get(session_id)
        now = time.monotonic()
        if entry_id is None or now - self._last_heartbeat.get(session_id, 0.0) < self._visibility_ms / 3000:
            return
        self._last_heartbeat[session_id] = now
        # Claiming our own entry again resets its idle time: nobody else will take it over.
        await self._call(lambda: self._redis.xclaim(JOBS, GROUP, self._instance, 0, [entry_id], justid=True))

    async def dequeue(self, session_id: str) -> bool:
        return bool(await self._call(lambda: self._redis.zrem(QUEUED, session_id)))

    async def queued(self) -> list[str]:
        return list(await self._call(lambda: self._redis.zrange(QUEUED, 0, -1)))

    async def jobless(self, lock_s: float = 5.0) -> list[Session]:
        lock_ms = int(lock_s * 1000)
        if not await self._call(lambda: self._redis.set(RECONCILE_LOCK, self._instance, nx=True, px=lock_ms)):
            return []  # another instance is reconciling
        # Sessions first, then jobs, then each candidate again: a job acknowledged in between
        # belongs to a session already saved finished, which the second read sees.
        candidates = [s for s in await self.sessions() if s.state in JOB_STATES]
        if not candidates:
            return []
        entries = await self._call(lambda: self._redis.xrange(JOBS, min="-", max="+"))
        with_jobs = {fields.get("session") for _, fields in entries}
        orphans: list[Session] = []
        for candidate in candidates:
            if candidate.id not in with_jobs:
                current = await self.get(candidate.id)
                if current is not None and current.state in JOB_STATES:
                    orphans.append(current)
        return orphans

    # Cancel and workers ----------------------------------------------------------------------

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel_handler = handler

    async def request_cancel(self, session_id: str) -> None:
        async def request() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(f"{P}cancel:{session_id}", "1", ex=3600)
                pipe.publish(CANCEL_CHANNEL, session_id)
                await pipe.execute()

        await self._call(request)

    async def _listen_for_cancels(self) -> None:
        while True:
            try:
                async for session_id in self._cancel_notices():
                    if self._cancel_handler is not None:
                        self._cancel_handler(session_id)
            except RedisError:
                await asyncio.sleep(1.0)

    async def _cancel_notices(self) -> AsyncIterator[str]:
        async with self._blocking.pubsub() as pubsub:
            await pubsub.subscribe(CANCEL_CHANNEL)
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield str(message["data"])

    async def report_workers(self, alive: int) -> None:
        await self._call(lambda: self._redis.set(f"{P}workers:{self._instance}", alive, ex=_HEARTBEAT_TTL_S))

    async def workers_alive(self, local: int) -> int:
        async def count() -> int:
            keys = [key async for key in self._redis.scan_iter(match=f"{P}workers:*", count=100)]
            values = await self._redis.mget(keys) if keys else []
            return sum(int(v) for v in values if v)

        return await self._call(count)

    # Locks -----------------------------------------------------------------------------------

    async def try_lock(self, name: str, token: str, ttl_s: float) -> bool:
        taken = await self._call(lambda: self._redis.set(f"{P}lock:{name}", token, nx=True, px=int(ttl_s * 1000)))
        return bool(taken) or await self.refresh_lock(name, token, ttl_s)

    async def refresh_lock(self, name: str, token: str, ttl_s: float) -> bool:
        return bool(await self._call(
            lambda: self._redis.eval(_REFRESH_LOCK, 1, f"{P}lock:{name}", token, int(ttl_s * 1000))))

    async def unlock(self, name: str, token: str) -> None:
        await self._call(lambda: self._redis.eval(_UNLOCK, 1, f"{P}lock:{name}", token))


def _session(doc: str, upload: str | None) -> Session:
    session = Session.from_manifest(json.loads(doc))
    if upload:
        session.upload = json.loads(upload)
    return session


def _client(url: str) -> aioredis.Redis:
    # redis-py's own retry: a command that meets a dead connection (killed, a failover, stale
    # after an outage) is sent again on a fresh one with backoff, so a blip never reaches the
    # caller. The asyncio Retry is needed: the synchronous one does not retry async commands.
    return aioredis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, health_check_interval=10,
                                   retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), _RETRIES),
                                   retry_on_error=[RedisConnectionError, RedisTimeoutError])


def _event(session_id: str, entry_id: str, fields: dict[str, str]) -> Event:
    return Event(entry_id, session_id, EventType(fields["type"]), fields["ts"], json.loads(fields["data"]))
