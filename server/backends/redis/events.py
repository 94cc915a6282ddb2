"""Event logs as one stream per session, and the instance's one reader that follows the streams its
local subscribers watch: clients never cost a Redis connection."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from redis.exceptions import RedisError

from vidpulse.server.backends import fencing
from vidpulse.server.backends.protocols import Publisher
from vidpulse.server.backends.redis.connection import FENCED, P, RedisConnection, arg, events_key, session_key
from vidpulse.server.models import EXPIRING_EVENTS, Event, EventType, Session, event_order

log = logging.getLogger("vidpulse.redis")

_READ_BLOCK_MS = 250
_APPEND = FENCED + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if superseded(KEYS[1], ARGV[5]) then return -1 end
local id = redis.call('XADD', KEYS[2], '*', 'type', ARGV[1], 'ts', ARGV[2], 'data', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'progress', ARGV[4]) end
return id
"""


# A live session's expiring events older than LIVE_LOG_S go (by Redis's own clock, which made the ids);
# the others stay, so XTRIM (which cuts everything before an id) cannot do it. The scan resumes where
# the last one ended (ARGV[3]), so the events kept are not read again and again.
_TRIM = """
local now = redis.call('TIME')
local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[1])
local entries = redis.call('XRANGE', KEYS[1], ARGV[3], cutoff, 'COUNT', ARGV[2])
local expiring = {}
for i = 4, #ARGV do expiring[ARGV[i]] = true end
local last = ''
for _, entry in ipairs(entries) do
  last = entry[1]
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'type' and expiring[fields[i + 1]] then redis.call('XDEL', KEYS[1], entry[1]) end
  end
end
return last
"""
_TRIM_BATCH = 2000
TRIM_EVERY_S = 60.0


class RedisEventLog:
    def __init__(self, conn: RedisConnection, publisher: Publisher) -> None:
        self._conn = conn
        self._publisher = publisher
        self._positions: dict[str, str] = {}  # watched session -> last event id delivered
        self._watch_changed = asyncio.Event()
        self._trimmed: dict[str, tuple[float, str]] = {}  # live session -> last trim (monotonic), scanned to

    async def append(self, session: Session, type: EventType, data: dict[str, Any]) -> Event:
        event = Event.create(None, session.id, type, data)
        progress = ""
        if type in (EventType.PROGRESS, EventType.STAGE) and session.progress is not None:
            progress = session.progress.model_dump_json()
        keys = (session_key(session.id), events_key(session.id))
        redis = self._conn.redis
        attempt = fencing.fence(session.id)
        entry_id = await self._conn.call(lambda: redis.eval(_APPEND, 2, *keys, type.value, event.ts,
                                                            json.dumps(data), progress, arg(attempt)))
        if entry_id is None:
            return event  # removed meanwhile: nothing logged, nobody to tell
        if entry_id == -1:
            raise fencing.AttemptSuperseded(session.id, attempt)
        session.last_event_id = str(entry_id)
        if session.kind == "live" and type in EXPIRING_EVENTS:
            await self._trim(session.id)
        return Event(str(entry_id), session.id, type, event.ts, data)

    async def _trim(self, session_id: str) -> None:
        keep_s = self._conn.settings.live_log_s
        now = time.monotonic()
        last, scanned = self._trimmed.get(session_id, (-TRIM_EVERY_S, "-"))
        if now - last < min(TRIM_EVERY_S, keep_s / 4):
            return
        redis = self._conn.redis
        reached = await self._conn.call(lambda: redis.eval(_TRIM, 1, events_key(session_id), int(keep_s * 1000),
                                                           _TRIM_BATCH, scanned, *EXPIRING_EVENTS))
        self._trimmed[session_id] = (now, f"({reached}" if reached else scanned)

    async def events_after(self, session_id: str, after: str | None) -> list[Event]:
        start = "-" if after is None else "(" + _stream_id(after)
        entries = await self._conn.call(lambda: self._conn.redis.xrange(events_key(session_id), min=start))
        return [_event(session_id, entry_id, fields) for entry_id, fields in entries]

    async def watch(self, session_id: str) -> None:
        if session_id in self._positions:
            return
        tail = await self._conn.call(lambda: self._conn.redis.xrevrange(events_key(session_id), count=1))
        self._positions.setdefault(session_id, tail[0][0] if tail else "0-0")
        self._watch_changed.set()

    async def follow(self) -> None:
        """The instance's one reader: blocking XREAD over every watched stream, into the hub.

        It resumes from the ids it had reached, so a connection error costs the live streams
        nothing; only Redis gone for longer than REDIS_OUTAGE_GRACE_S ends them (clients resume
        with Last-Event-ID once it is back)."""
        backoff = 0.05
        outage_since: float | None = None
        while True:
            for session_id in [s for s in self._positions if self._publisher.count(s) == 0]:
                del self._positions[session_id]
            if not self._positions:
                self._watch_changed.clear()
                await self._watch_changed.wait()
                continue
            streams = {events_key(s): position for s, position in self._positions.items()}
            try:
                response = await self._conn.blocking.xread(streams, count=500, block=_READ_BLOCK_MS)
                backoff, outage_since = 0.05, None
            except RedisError:
                now = time.monotonic()
                outage_since = outage_since or now
                if now - outage_since < self._conn.settings.redis_outage_grace_s:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 1.0)
                    continue
                log.warning("lost Redis for %.0f s while following events; live streams end and clients resume",
                            now - outage_since)
                self._publisher.close_all()
                self._positions.clear()
                outage_since = None
                continue
            self._deliver(response or [])

    def _deliver(self, response: list[Any]) -> None:
        for key, entries in response:
            session_id = key.removeprefix(f"{P}events:")
            for entry_id, fields in entries:
                if session_id in self._positions:
                    self._positions[session_id] = entry_id
                self._publisher.publish(_event(session_id, entry_id, fields))


def _stream_id(event_id: str) -> str:
    major, minor = event_order(event_id)
    return f"{major}-{minor}"


def _event(session_id: str, entry_id: str, fields: dict[str, str]) -> Event:
    return Event(entry_id, session_id, EventType(fields["type"]), fields["ts"], json.loads(fields["data"]))
