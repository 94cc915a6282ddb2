"""Event logs as one stream per session, and the instance's one follower of the sessions its local
subscribers watch: clients never cost a Redis connection.

The script that logs an event also publishes it on the session's sharded channel (in the session's
slot). The follower keeps, for each watched session, the id of the last event it delivered, and
subscribes the session's channel; on every (re)subscription it reads the stream after that id, and
from then on takes the published events, skipping any at or before it (notices.py).

Invariant: the hub gets each watched session's events once, in log order, from the position at
`watch` on: a published event reaches the follower after its subscription's notice, and the read on
that notice covers everything logged before it (and perhaps some that are published after it, which
are then skipped as already delivered)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from redis.exceptions import RedisClusterException, RedisError

from vidpulse.server.backends import fencing
from vidpulse.server.backends.protocols import Publisher
from vidpulse.server.backends.redis.connection import (
    FENCED,
    BackendUnavailable,
    RedisConnection,
    arg,
)
from vidpulse.server.backends.redis.notices import Notice, Subscriber
from vidpulse.server.models import EXPIRING_EVENTS, Event, EventType, Session, event_order

log = logging.getLogger("vidpulse.redis")

# ARGV[6] the session's channel: published as "id\ntype\nts\ndata" (no field but data holds a newline,
# and JSON escapes its own).
_APPEND = FENCED + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if superseded(KEYS[1], ARGV[5]) then return -1 end
local id = redis.call('XADD', KEYS[2], '*', 'type', ARGV[1], 'ts', ARGV[2], 'data', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'progress', ARGV[4]) end
redis.call('SPUBLISH', ARGV[6], id .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[3])
return id
"""
# How long the follower waits for a notice before it looks for sessions nobody here watches any more.
_PRUNE_S = 1.0
_CATCH_UP_BATCH = 500


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
        self._keys = conn.keys
        self._publisher = publisher
        self._positions: dict[str, str] = {}  # watched session -> last event id delivered
        self._subscriber: Subscriber | None = None  # the follower's, while it runs
        self._trimmed: dict[str, tuple[float, str]] = {}  # live session -> last trim (monotonic), scanned to

    async def append(self, session: Session, type: EventType, data: dict[str, Any]) -> Event:
        event = Event.create(None, session.id, type, data)
        progress = ""
        if type in (EventType.PROGRESS, EventType.STAGE) and session.progress is not None:
            progress = session.progress.model_dump_json()
        keys = (self._keys.session(session.id), self._keys.events(session.id))
        redis = self._conn.redis
        attempt = fencing.fence(session.id)
        entry_id = await self._conn.call(lambda: redis.eval(_APPEND, 2, *keys, type.value, event.ts, json.dumps(data),
                                                            progress, arg(attempt), self._keys.notices(session.id)))
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
        reached = await self._conn.call(lambda: redis.eval(_TRIM, 1, self._keys.events(session_id), int(keep_s * 1000),
                                                           _TRIM_BATCH, scanned, *EXPIRING_EVENTS))
        self._trimmed[session_id] = (now, f"({reached}" if reached else scanned)

    async def events_after(self, session_id: str, after: str | None) -> list[Event]:
        start = "-" if after is None else "(" + _stream_id(after)
        entries = await self._conn.call(lambda: self._conn.redis.xrange(self._keys.events(session_id), min=start))
        return [_event(session_id, entry_id, fields) for entry_id, fields in entries]

    async def watch(self, session_id: str) -> None:
        if session_id in self._positions:
            return
        tail = await self._conn.call(lambda: self._conn.redis.xrevrange(self._keys.events(session_id), count=1))
        self._positions.setdefault(session_id, tail[0][0] if tail else "0-0")
        if self._subscriber is not None:
            self._subscriber.wake()

    async def follow(self) -> None:
        """The instance's one follower: the watched sessions' notices, into the hub.

        It resumes from the ids it had reached, so a lost connection or a failover costs the live
        streams nothing; only Redis gone for longer than REDIS_OUTAGE_GRACE_S ends them (clients
        resume with Last-Event-ID once it is back)."""
        subscriber = self._subscriber = Subscriber(self._conn)
        backoff = 0.05
        outage_since: float | None = None
        try:
            while True:
                try:
                    await self._subscribe(subscriber)
                    notice = await subscriber.next(_PRUNE_S)
                    if notice is not None:
                        await self._take(notice)
                    backoff, outage_since = 0.05, None
                except (RedisError, RedisClusterException, OSError, BackendUnavailable) as exc:
                    await subscriber.reset()
                    now = time.monotonic()
                    if outage_since is None:
                        log.info("following events: %s; subscribing again", exc or type(exc).__name__)
                    outage_since = outage_since or now
                    if now - outage_since < self._conn.settings.redis_outage_grace_s:
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 1.0)
                        with contextlib.suppress(RedisError, RedisClusterException, OSError):
                            await self._conn.refresh_shards()
                        continue
                    log.warning("lost Redis for %.0f s while following events; live streams end and clients resume",
                                now - outage_since)
                    self._publisher.close_all()
                    self._positions.clear()
                    outage_since = None
        finally:
            self._subscriber = None
            await subscriber.reset()

    async def _subscribe(self, subscriber: Subscriber) -> None:
        """Subscribed to the channels of the sessions watched here, and of no others."""
        for session_id in [s for s in self._positions if self._publisher.count(s) == 0]:
            del self._positions[session_id]
        wanted = {self._keys.notices(s) for s in self._positions}
        for channel in subscriber.channels - wanted:
            await subscriber.unsubscribe(channel)
        for channel in wanted - subscriber.channels:
            await subscriber.subscribe(channel)

    async def _take(self, notice: Notice) -> None:
        session_id = self._keys.session_of(notice.channel)
        if session_id not in self._positions:
            return  # no longer watched here
        if notice.data is None:
            await self._catch_up(session_id)
            return
        entry_id, type, ts, data = notice.data.split("\n", 3)
        if event_order(entry_id) > event_order(self._positions[session_id]):
            self._deliver(Event(entry_id, session_id, EventType(type), ts, json.loads(data)))

    async def _catch_up(self, session_id: str) -> None:
        """What the session logged after the last event delivered (while it was not subscribed)."""
        while session_id in self._positions:
            entries = await self._after(session_id, self._positions[session_id])
            for entry_id, fields in entries:
                self._deliver(_event(session_id, entry_id, fields))
            if len(entries) < _CATCH_UP_BATCH:
                return

    async def _after(self, session_id: str, position: str) -> list[Any]:
        redis = self._conn.redis
        return list(await self._conn.call(lambda: redis.xrange(self._keys.events(session_id), min="(" + position,
                                                               count=_CATCH_UP_BATCH)))

    def _deliver(self, event: Event) -> None:
        assert event.id is not None
        self._positions[event.session] = event.id
        self._publisher.publish(event)


def _stream_id(event_id: str) -> str:
    major, minor = event_order(event_id)
    return f"{major}-{minor}"


def _event(session_id: str, entry_id: str, fields: dict[str, str]) -> Event:
    return Event(entry_id, session_id, EventType(fields["type"]), fields["ts"], json.loads(fields["data"]))
