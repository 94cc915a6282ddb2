"""The job queue: a stream with a consumer group (at-least-once delivery, claimed back from a silent
worker after JOB_VISIBILITY_S), and a sorted set of the waiting jobs in order, both in the job
stream's slot; the attempts live in each session's hash, in the session's slot.

Invariants:
- Only the consumer that holds a job's entry (XPENDING names it) refreshes it, acknowledges it,
  hands it back or begins an attempt of it; each of these checks that in the script that acts. A
  host that was silent (frozen, cut off) and comes back finds that another claimed its job, and
  stops.
- The session's attempt number decides who writes the session (fencing.py); the entry is only
  bookkeeping of who runs the job and whether it is alive. No script touches both, so beginning an
  attempt is two steps: (1) in the stream's slot, the entry is checked to be this consumer's and
  refreshed, which answers (by Redis's clock) until when no other host can claim it: half of
  JOB_VISIBILITY_S from now; (2) in the session's slot, the attempt number goes up, only if that
  time has not passed (else both steps again). So an attempt only begins while its host surely
  holds the entry: a host frozen between the two steps cannot begin an attempt after another host
  claimed the job and began its own. This assumes the clocks of the cluster's nodes agree to within
  half of JOB_VISIBILITY_S (one clock on a single Redis).
- A heartbeat checks the attempt (session's slot), then refreshes the entry if it is still this
  consumer's (stream's slot): false if either fails.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import ResponseError

from vidpulse.server.backends.fencing import AttemptSuperseded
from vidpulse.server.backends.protocols import SessionStore
from vidpulse.server.backends.redis.connection import (
    GROUP,
    BackendUnavailable,
    Keys,
    RedisConnection,
)
from vidpulse.server.models import FINISHED_STATES, JOB_STATES, Session, SessionState, utcnow

log = logging.getLogger("vidpulse.redis")

# KEYS[1] the job stream; ARGV[1] the group, ARGV[2] the entry, ARGV[3] this consumer.
_OWNED = """
local function owned()
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
  return #pending == 1 and pending[1][2] == ARGV[3]
end
"""
# The entry refreshed if it is this consumer's: -1 if not, else the time now (ms, by Redis's clock).
_HOLD = _OWNED + """
if not owned() then return -1 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
local now = redis.call('TIME')
return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
"""
# KEYS[1] the session; ARGV[1] until when (ms) the job is surely the caller's, ARGV[2] the attempts
# the caller saw, ARGV[3..] the finished states. -1: too late (hold the entry again first); 0: the
# session has ended; else the attempt's number.
_BEGIN = """
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[1]) then return -1 end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
for i = 3, #ARGV do if state == ARGV[i] then return 0 end end
local number = math.max(tonumber(redis.call('HGET', KEYS[1], 'attempt') or '0'), tonumber(ARGV[2])) + 1
redis.call('HSET', KEYS[1], 'attempt', number)
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
_BEGIN_TRIES = 5
_JOB_ON_ITS_WAY_S = 3.0


class RedisJobQueue:
    def __init__(self, conn: RedisConnection, sessions: SessionStore) -> None:
        self._conn = conn
        self._redis = conn.redis
        self._keys = conn.keys
        self._sessions = sessions
        self._inflight: dict[str, str] = {}  # session id -> job stream entry id
        self._visibility_ms = int(conn.settings.job_visibility_s * 1000)

    def held(self) -> list[str]:
        """The sessions whose jobs this instance took and has not settled."""
        return list(self._inflight)

    async def enqueue(self, session_id: str) -> int:
        return await self._conn.call(lambda: enqueue(self._redis, self._keys, session_id))

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
            _, claimed, *_ = await self._redis.xautoclaim(self._keys.jobs, GROUP, self._conn.instance,
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
            response = await self._conn.blocking.xreadgroup(GROUP, self._conn.instance, {self._keys.jobs: ">"}, count=1,
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
        if attempt is not None:
            current = await self._conn.call(lambda: self._redis.hget(self._keys.session(session_id), "attempt"))
            if current != str(attempt):
                return False
        return await self._on_entry(_HOLD, entry_id) >= 0

    async def begin_attempt(self, session: Session) -> int | None:
        entry_id = self._inflight.get(session.id)
        for _ in range(_BEGIN_TRIES):
            held_at = -1 if entry_id is None else await self._on_entry(_HOLD, entry_id)
            if held_at < 0:
                raise AttemptSuperseded(session.id, None, "another host claimed the job")
            number = await self._begin(session, held_at + self._visibility_ms // 2)
            if number >= 0:
                return number or None
            log.warning("beginning an attempt of %s took longer than its hold on the job; again", session.id)
        raise BackendUnavailable("Redis is too slow to begin an attempt; the job will run again.")

    async def _begin(self, session: Session, until_ms: int) -> int:
        redis, keys = self._redis, (self._keys.session(session.id),)
        return int(await self._conn.call(lambda: redis.eval(_BEGIN, 1, *keys, str(until_ms), str(session.attempts),
                                                            *FINISHED_STATES)))

    async def hand_back(self, session_id: str) -> None:
        entry_id = self._inflight.pop(session_id, None)
        if entry_id is not None:
            await self._on_entry(_HAND_BACK, entry_id, session_id, str(_HANDED_BACK_IDLE_MS))

    async def _on_entry(self, script: str, entry_id: str, *args: str) -> int:
        """Run one of the scripts above on a job entry of this consumer's."""
        keys = (self._keys.jobs, self._keys.queued) if script is _HAND_BACK else (self._keys.jobs,)
        redis, consumer = self._redis, self._conn.instance
        return int(await self._conn.call(
            lambda: redis.eval(script, len(keys), *keys, GROUP, entry_id, consumer, *args)))

    async def dequeue(self, session_id: str) -> bool:
        return bool(await self._conn.call(lambda: self._redis.zrem(self._keys.queued, session_id)))

    async def queued(self) -> list[str]:
        return list(await self._conn.call(lambda: self._redis.zrange(self._keys.queued, 0, -1)))

    async def jobless(self, lock_s: float = 5.0) -> list[Session]:
        lock_ms = int(lock_s * 1000)
        instance = self._conn.instance
        if not await self._conn.call(lambda: self._redis.set(self._keys.reconcile, instance, nx=True, px=lock_ms)):
            return []  # another instance is reconciling
        # Sessions first, then jobs, then each candidate again: a job acknowledged in between
        # belongs to a session already saved finished, which the second read sees.
        candidates = [s for s in await self._sessions.all() if s.state in JOB_STATES and not self._young(s)]
        if not candidates:
            return []
        entries = await self._conn.call(lambda: self._redis.xrange(self._keys.jobs, min="-", max="+"))
        with_jobs = {fields.get("session") for _, fields in entries}
        orphans: list[Session] = []
        for candidate in candidates:
            if candidate.id not in with_jobs:
                current = await self._sessions.get(candidate.id)
                if current is not None and current.state in JOB_STATES and not self._young(current):
                    orphans.append(current)
        return orphans

    def _young(self, session: Session) -> bool:
        """Queued so recently that its job may be on its way: a session is saved `queued` one step
        before its job is added (a creation, a retry, a crashed attempt run again), and the step
        between may wait out a failover. Queued twice, it would run twice (the later attempt wins)."""
        if session.state is not SessionState.QUEUED or session.queued_at is None:
            return False
        return (utcnow() - session.queued_at).total_seconds() < _JOB_ON_ITS_WAY_S + self._conn.failover_s


async def enqueue(redis: Any, keys: Keys, session_id: str) -> int:
    """Add a job to the stream and the waiting list in one transaction (one slot); its position."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(keys.queued, {session_id: time.time()})
        pipe.zrank(keys.queued, session_id)
        pipe.xadd(keys.jobs, {"session": session_id})
        _, rank, _ = await pipe.execute()
    return int(rank) + 1
