"""Sessions as hashes, listed in a sorted set by creation time.

A session's keys share its slot; the list and the job queue are elsewhere, so creating or removing
a session is steps in this order, each in one slot, and a crash between two leaves only what a
later step of the service clears:
- created: listed, stored, queued. A listed id with no session is skipped, and forgotten by `all`
  once it is older than _UNLISTED_AFTER_S; a session stored `queued` with no job is queued again by
  the reconciliation sweep (queue.py, `jobless`). The other order could leave a session that
  nothing lists, never expired.
- removed: its keys, then its place in the list and in the waiting list (the same as above).
A failure that reaches the caller of `submit` is answered by undoing the creation (`remove`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from vidpulse.server.backends import fencing
from vidpulse.server.backends.redis.connection import (
    FENCED,
    RedisConnection,
    arg,
)
from vidpulse.server.backends.redis.queue import enqueue
from vidpulse.server.models import PROGRESS, Session, StoredUpload

# Never recreate the hash of a session removed meanwhile (a PATCH racing a DELETE).
_SAVE_UPLOAD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'upload', ARGV[1])
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'progress') else redis.call('HSET', KEYS[1], 'progress', ARGV[2]) end
return 1
"""
# A save or an event of a session removed meanwhile (a job's last word racing a DELETE) must not
# bring its keys back: they would have no list entry, no files and no expiry.
_SAVE = FENCED + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if superseded(KEYS[1], ARGV[4]) then return -1 end
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'state', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return 1
"""


# A listed id whose session is missing is forgotten once its creation is this old (it can no longer
# be one whose creation is under way).
_UNLISTED_AFTER_S = 600.0


class RedisSessions:
    def __init__(self, conn: RedisConnection) -> None:
        self._conn = conn
        self._redis = conn.redis
        self._keys = conn.keys

    async def add(self, session: Session) -> None:
        redis, keys = self._redis, self._keys
        await self._conn.call(lambda: redis.zadd(keys.sessions, {session.id: session.created_at.timestamp()}))
        await self._conn.call(lambda: redis.hset(keys.session(session.id), mapping=_fields(session)))

    async def submit(self, session: Session) -> int:
        await self.add(session)
        return await self._conn.call(lambda: enqueue(self._redis, self._keys, session.id))

    async def get(self, session_id: str) -> Session | None:
        async def get() -> tuple[list[str | None], list[Any]]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hmget(self._keys.session(session_id), ["doc", "progress", "upload"])
                pipe.xrevrange(self._keys.events(session_id), count=1)
                fields, tail = await pipe.execute()
            return fields, tail

        (doc, progress, upload), tail = await self._conn.call(get)
        if doc is None:
            return None
        session = _session(doc, upload)
        session.last_event_id = tail[0][0] if tail else None
        if progress and not session.state.finished:
            session.progress = PROGRESS.validate_json(progress)
        return session

    async def save(self, session: Session) -> None:
        fields = _fields(session)
        # Expiry removes files and sends `expired`; the TTL only guards against leaks.
        ttl = str(int(self._conn.settings.session_ttl_s) + 3600) if session.state.finished else ""
        keys = (self._keys.session(session.id), self._keys.events(session.id))
        attempt = fencing.fence(session.id)
        saved = await self._conn.call(lambda: self._redis.eval(_SAVE, 2, *keys, fields["doc"], fields["state"], ttl,
                                                                arg(attempt)))
        if saved == -1:
            raise fencing.AttemptSuperseded(session.id, attempt)

    async def remove(self, session_id: str) -> None:
        async def unlist() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:  # two slots, no order between them
                pipe.zrem(self._keys.sessions, session_id)
                pipe.zrem(self._keys.queued, session_id)
                await pipe.execute()

        await self._conn.call(lambda: self._redis.delete(self._keys.session(session_id), self._keys.events(session_id)))
        await self._conn.call(unlist)

    async def all(self) -> list[Session]:
        async def load() -> tuple[list[tuple[str, float]], list[list[str | None]]]:
            listed = await self._redis.zrange(self._keys.sessions, 0, -1, withscores=True)
            if not listed:
                return [], []
            async with self._redis.pipeline(transaction=False) as pipe:
                for session_id, _ in listed:
                    pipe.hmget(self._keys.session(session_id), ["doc", "upload"])
                return listed, list(await pipe.execute())

        listed, rows = await self._conn.call(load)
        gone = [session_id for (session_id, created), (doc, _) in zip(listed, rows, strict=True)
                if not doc and created < time.time() - _UNLISTED_AFTER_S]
        if gone:  # a creation cut short, a removal cut short, a session whose keys expired
            await self._conn.call(lambda: self._redis.zrem(self._keys.sessions, *gone))
        return [_session(doc, upload) for doc, upload in rows if doc]

    async def save_upload(self, session: Session) -> None:
        upload = "null" if session.upload is None else session.upload.model_dump_json()
        progress = "" if session.progress is None else session.progress.model_dump_json()
        key = self._keys.session(session.id)
        await self._conn.call(lambda: self._redis.eval(_SAVE_UPLOAD, 1, key, upload, progress))


def _fields(session: Session) -> dict[str, str]:
    return {"doc": json.dumps(session.to_manifest()), "state": session.state.value}


def _session(doc: str, upload: str | None) -> Session:
    session = Session.from_manifest(json.loads(doc))
    if upload:
        session.upload = StoredUpload.model_validate_json(upload) if upload != "null" else None
    return session
