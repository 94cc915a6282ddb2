"""Sessions as hashes, listed in a sorted set by creation time."""

from __future__ import annotations

import json
import time
from typing import Any

from vidpulse.server.backends import fencing
from vidpulse.server.backends.redis.connection import (
    FENCED,
    JOBS,
    QUEUED,
    SESSIONS,
    RedisConnection,
    arg,
    cancel_key,
    events_key,
    session_key,
)
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


class RedisSessions:
    def __init__(self, conn: RedisConnection) -> None:
        self._conn = conn
        self._redis = conn.redis

    async def add(self, session: Session) -> None:
        async def add() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(session_key(session.id), mapping=_fields(session))
                pipe.zadd(SESSIONS, {session.id: session.created_at.timestamp()})
                await pipe.execute()

        await self._conn.call(add)

    async def submit(self, session: Session) -> int:
        async def submit() -> int:
            # One MULTI: the session, its place in the list and its job exist together or not at all.
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(session_key(session.id), mapping=_fields(session))
                pipe.zadd(SESSIONS, {session.id: session.created_at.timestamp()})
                pipe.zadd(QUEUED, {session.id: time.time()})
                pipe.zrank(QUEUED, session.id)
                pipe.xadd(JOBS, {"session": session.id})
                _, _, _, rank, _ = await pipe.execute()
            return int(rank) + 1

        return await self._conn.call(submit)

    async def get(self, session_id: str) -> Session | None:
        async def get() -> tuple[list[str | None], list[Any]]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hmget(session_key(session_id), ["doc", "progress", "upload"])
                pipe.xrevrange(events_key(session_id), count=1)
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
        keys = (session_key(session.id), events_key(session.id))
        attempt = fencing.fence(session.id)
        saved = await self._conn.call(lambda: self._redis.eval(_SAVE, 2, *keys, fields["doc"], fields["state"], ttl,
                                                                arg(attempt)))
        if saved == -1:
            raise fencing.AttemptSuperseded(session.id, attempt)

    async def remove(self, session_id: str) -> None:
        async def remove() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(session_key(session_id), events_key(session_id), cancel_key(session_id))
                pipe.zrem(SESSIONS, session_id)
                pipe.zrem(QUEUED, session_id)
                await pipe.execute()

        await self._conn.call(remove)

    async def all(self) -> list[Session]:
        async def load() -> list[list[str | None]]:
            ids = await self._redis.zrange(SESSIONS, 0, -1)
            if not ids:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for session_id in ids:
                    pipe.hmget(session_key(session_id), ["doc", "upload"])
                return list(await pipe.execute())

        rows = await self._conn.call(load)
        return [_session(doc, upload) for doc, upload in rows if doc]

    async def save_upload(self, session: Session) -> None:
        upload = "null" if session.upload is None else session.upload.model_dump_json()
        progress = "" if session.progress is None else session.progress.model_dump_json()
        await self._conn.call(lambda: self._redis.eval(_SAVE_UPLOAD, 1, session_key(session.id), upload, progress))


def _fields(session: Session) -> dict[str, str]:
    return {"doc": json.dumps(session.to_manifest()), "state": session.state.value}


def _session(doc: str, upload: str | None) -> Session:
    session = Session.from_manifest(json.loads(doc))
    if upload:
        session.upload = StoredUpload.model_validate_json(upload) if upload != "null" else None
    return session
