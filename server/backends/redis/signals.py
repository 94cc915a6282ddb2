"""Signals between instances: cancel notices on a sharded channel, and each instance's worker count.

A cancel is saved first (the session `cancelling`, sessions/control.py), then announced on the
channel; the session's state is the request and the notice only makes it quick. Pub/sub keeps
nothing for an instance that is not subscribed (its connection lost, the channel's shard failing
over), so on every (re)subscription the instance reads the state of each job it holds and passes on
the cancels it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

from redis.exceptions import RedisClusterException, RedisError

from vidpulse.server.backends.protocols import CancelHandler
from vidpulse.server.backends.redis.connection import (
    BackendUnavailable,
    RedisConnection,
)
from vidpulse.server.backends.redis.notices import Subscriber
from vidpulse.server.models import SessionState

_HEARTBEAT_TTL_MS = 15_000
# The worker count of each instance, with the time (Redis's clock) until which it holds: an instance
# that stops reporting drops out once it has passed.
_REPORT = """
local now = redis.call('TIME')
local deadline = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. deadline)
return 1
"""
_COUNT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local alive = 0
local reports = redis.call('HGETALL', KEYS[1])
for i = 1, #reports, 2 do
  local count, deadline = string.match(reports[i + 1], '^(%d+):(%d+)$')
  if count and tonumber(deadline) > ms then alive = alive + tonumber(count)
  else redis.call('HDEL', KEYS[1], reports[i]) end
end
return alive
"""


class RedisSignals:
    def __init__(self, conn: RedisConnection, held: Callable[[], Iterable[str]]) -> None:
        self._conn = conn
        self._held = held  # the sessions whose jobs this instance holds
        self._cancel_handler: CancelHandler | None = None

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel_handler = handler

    async def request_cancel(self, session_id: str) -> None:
        await self._conn.call(lambda: self._conn.redis.spublish(self._conn.keys.cancel, session_id))

    async def listen(self) -> None:
        subscriber = Subscriber(self._conn)
        try:
            while True:
                try:
                    await subscriber.subscribe(self._conn.keys.cancel)
                    notice = await subscriber.next(None)
                    if notice is None:
                        continue
                    if notice.data is None:
                        await self._missed()
                    else:
                        self._cancel(notice.data)
                except (RedisError, RedisClusterException, OSError, BackendUnavailable):
                    await subscriber.reset()
                    await asyncio.sleep(1.0)
                    with contextlib.suppress(RedisError, RedisClusterException, OSError):
                        await self._conn.refresh_shards()
        finally:
            await subscriber.reset()

    async def _missed(self) -> None:
        """The cancels this instance may have missed while it was not subscribed."""
        held = list(self._held())

        async def states() -> list[str | None]:
            async with self._conn.redis.pipeline(transaction=False) as pipe:
                for session_id in held:
                    pipe.hget(self._conn.keys.session(session_id), "state")
                return list(await pipe.execute())

        for session_id, state in zip(held, await self._conn.call(states) if held else [], strict=True):
            if state == SessionState.CANCELLING.value:
                self._cancel(session_id)

    def _cancel(self, session_id: str) -> None:
        if self._cancel_handler is not None:
            self._cancel_handler(session_id)

    async def report_workers(self, alive: int) -> None:
        redis, instance, key = self._conn.redis, self._conn.instance, self._conn.keys.workers
        await self._conn.call(lambda: redis.eval(_REPORT, 1, key, instance, alive, _HEARTBEAT_TTL_MS))

    async def workers_alive(self, local: int) -> int:
        redis = self._conn.redis
        return int(await self._conn.call(lambda: redis.eval(_COUNT, 1, self._conn.keys.workers)))
