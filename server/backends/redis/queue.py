"""The job queue: a stream with a consumer group (at-least-once delivery, claimed back from a silent
worker after JOB_VISIBILITY_S), and a sorted set of the waiting jobs in order."""

from __future__ import annotations

import logging
import time

from redis.exceptions import ResponseError

from vidpulse.server.backends.redis.connection import GROUP, JOBS, QUEUED, RECONCILE_LOCK, RedisConnection
from vidpulse.server.backends.redis.sessions import RedisSessions
from vidpulse.server.models import JOB_STATES, Session

log = logging.getLogger("vidpulse.redis")


class RedisJobQueue:
    def __init__(self, conn: RedisConnection, sessions: RedisSessions) -> None:
        self._conn = conn
        self._redis = conn.redis
        self._sessions = sessions
        self._inflight: dict[str, str] = {}  # session id -> job stream entry id
        self._last_heartbeat: dict[str, float] = {}
        self._visibility_ms = int(conn.settings.job_visibility_s * 1000)

    async def enqueue(self, session_id: str) -> int:
        async def enqueue() -> int:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(QUEUED, {session_id: time.time()})
                pipe.zrank(QUEUED, session_id)
                pipe.xadd(JOBS, {"session": session_id})
                _, rank, _ = await pipe.execute()
            return int(rank) + 1

        return await self._conn.call(enqueue)

    async def next_job(self) -> str:
        while True:
            entry = await self._conn.call(self._claim_stale) or await self._conn.call(self._read_new)
            if entry is None:
                continue
            entry_id, session_id = entry
            self._inflight[session_id] = entry_id
            await self.dequeue(session_id)
            return session_id

    async def _claim_stale(self) -> tuple[str, str] | None:
        """A job whose worker stopped heartbeating (killed, machine gone) is taken over."""
        try:
            _, claimed, *_ = await self._redis.xautoclaim(JOBS, GROUP, self._conn.instance,
                                                          min_idle_time=self._visibility_ms, count=1)
        except ResponseError:
            await self._conn.ensure_group()
            return None
        for entry_id, fields in claimed:
            if fields:
                log.info("claimed job %s of a silent worker", fields.get("session"))
                return entry_id, fields["session"]
        return None

    async def _read_new(self) -> tuple[str, str] | None:
        try:
            response = await self._conn.blocking.xreadgroup(GROUP, self._conn.instance, {JOBS: ">"}, count=1,
                                                            block=2000)
        except ResponseError:
            await self._conn.ensure_group()
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

            await self._conn.call(ack)

    async def job_heartbeat(self, session_id: str) -> None:
        entry_id = self._inflight.get(session_id)
        now = time.monotonic()
        if entry_id is None or now - self._last_heartbeat.get(session_id, 0.0) < self._visibility_ms / 3000:
            return
        self._last_heartbeat[session_id] = now
        # Claiming our own entry again resets its idle time: nobody else will take it over.
        await self._conn.call(lambda: self._redis.xclaim(JOBS, GROUP, self._conn.instance, 0, [entry_id],
                                                         justid=True))

    async def dequeue(self, session_id: str) -> bool:
        return bool(await self._conn.call(lambda: self._redis.zrem(QUEUED, session_id)))

    async def queued(self) -> list[str]:
        return list(await self._conn.call(lambda: self._redis.zrange(QUEUED, 0, -1)))

    async def jobless(self, lock_s: float = 5.0) -> list[Session]:
        lock_ms = int(lock_s * 1000)
        instance = self._conn.instance
        if not await self._conn.call(lambda: self._redis.set(RECONCILE_LOCK, instance, nx=True, px=lock_ms)):
            return []  # another instance is reconciling
        # Sessions first, then jobs, then each candidate again: a job acknowledged in between
        # belongs to a session already saved finished, which the second read sees.
        candidates = [s for s in await self._sessions.all() if s.state in JOB_STATES]
        if not candidates:
            return []
        entries = await self._conn.call(lambda: self._redis.xrange(JOBS, min="-", max="+"))
        with_jobs = {fields.get("session") for _, fields in entries}
        orphans: list[Session] = []
        for candidate in candidates:
            if candidate.id not in with_jobs:
                current = await self._sessions.get(candidate.id)
                if current is not None and current.state in JOB_STATES:
                    orphans.append(current)
        return orphans
