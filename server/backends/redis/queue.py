"""The job queue: a stream with a consumer group (at-least-once delivery, claimed back from a silent
worker after JOB_VISIBILITY_S), and a sorted set of the waiting jobs in order.

Invariant: only the consumer that holds a job's entry (XPENDING names it) refreshes it, acknowledges
it, hands it back or begins an attempt of it; each of these checks that in the script that acts. A
host that was silent (frozen, cut off) and comes back finds that another claimed its job, and stops.
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import ResponseError

from vidpulse.server.backends.fencing import AttemptSuperseded
from vidpulse.server.backends.redis.connection import (
    FENCED,
    GROUP,
    JOBS,
    QUEUED,
    RECONCILE_LOCK,
    RedisConnection,
    arg,
    session_key,
)
from vidpulse.server.backends.redis.sessions import RedisSessions
from vidpulse.server.models import FINISHED_STATES, JOB_STATES, Session

log = logging.getLogger("vidpulse.redis")

# KEYS[1] the job stream; ARGV[1] the group, ARGV[2] the entry, ARGV[3] this consumer.
_OWNED = """
local function owned()
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
  return #pending == 1 and pending[1][2] == ARGV[3]
end
"""
# KEYS[2] the session; ARGV[4] the attempt ('' before it began).
_HEARTBEAT = FENCED + _OWNED + """
if not owned() or superseded(KEYS[2], ARGV[4]) then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
"""
# KEYS[2] the session; ARGV[4] the attempts the caller saw, ARGV[5..] the finished states.
_BEGIN = _OWNED + """
if not owned() then return -1 end
local state = redis.call('HGET', KEYS[2], 'state')
if not state then return 0 end
for i = 5, #ARGV do if state == ARGV[i] then return 0 end end
local number = math.max(tonumber(redis.call('HGET', KEYS[2], 'attempt') or '0'), tonumber(ARGV[4])) + 1
redis.call('HSET', KEYS[2], 'attempt', number)
return number
"""
_ACK = _OWNED + """
if not owned() then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""
# KEYS[2] the waiting list; ARGV[4] the session, ARGV[5] an idle time past any JOB_VISIBILITY_S:
# the next XAUTOCLAIM of any host takes the entry, before it reads new jobs (next_job).
_HAND_BACK = _OWNED + """
if not owned() then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'IDLE', ARGV[5], 'JUSTID')
redis.call('ZADD', KEYS[2], 0, ARGV[4])
return 1
"""
_HANDED_BACK_IDLE_MS = 365 * 24 * 3600 * 1000
# How long an idle host waits for a new job before it looks for jobs to claim again: a job handed
# back or left by a silent host is taken within this (plus JOB_VISIBILITY_S for a silent one).
_READ_BLOCK_MS = 1000


class RedisJobQueue:
    def __init__(self, conn: RedisConnection, sessions: RedisSessions) -> None:
        self._conn = conn
        self._redis = conn.redis
        self._sessions = sessions
        self._inflight: dict[str, str] = {}  # session id -> job stream entry id
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
                log.info("claimed job %s, handed back or left by a silent host", fields.get("session"))
                return entry_id, fields["session"]
        return None

    async def _read_new(self) -> tuple[str, str] | None:
        try:
            response = await self._conn.blocking.xreadgroup(GROUP, self._conn.instance, {JOBS: ">"}, count=1,
                                                            block=_READ_BLOCK_MS)
        except ResponseError:
            await self._conn.ensure_group()
            return None
        for _, entries in response or []:
            for entry_id, fields in entries:
                return entry_id, fields["session"]
        return None

    async def job_done(self, session_id: str) -> None:
        entry_id = self._inflight.pop(session_id, None)
        if entry_id is not None:
            await self._on_entry(_ACK, entry_id)

    async def job_heartbeat(self, session_id: str, attempt: int | None) -> bool:
        entry_id = self._inflight.get(session_id)
        if entry_id is None:
            return False
        return bool(await self._on_entry(_HEARTBEAT, entry_id, session_key(session_id), arg(attempt)))

    async def begin_attempt(self, session: Session) -> int | None:
        entry_id = self._inflight.get(session.id)
        number = -1 if entry_id is None else await self._on_entry(
            _BEGIN, entry_id, session_key(session.id), str(session.attempts), *FINISHED_STATES)
        if number == -1:
            raise AttemptSuperseded(session.id, None, "another host claimed the job")
        return int(number) or None

    async def hand_back(self, session_id: str) -> None:
        entry_id = self._inflight.pop(session_id, None)
        if entry_id is not None:
            await self._on_entry(_HAND_BACK, entry_id, QUEUED, session_id, str(_HANDED_BACK_IDLE_MS))

    async def _on_entry(self, script: str, entry_id: str, key: str | None = None, *args: str) -> int:
        """Run one of the scripts above on a job entry of this consumer's."""
        keys = (JOBS,) if key is None else (JOBS, key)
        redis, consumer = self._redis, self._conn.instance
        return int(await self._conn.call(
            lambda: redis.eval(script, len(keys), *keys, GROUP, entry_id, consumer, *args)))

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
