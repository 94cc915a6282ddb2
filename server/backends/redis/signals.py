"""Signals between instances: cancel notices on a channel (with a flag), and each instance's
worker heartbeat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from redis.exceptions import RedisError

from vidpulse.server.backends.protocols import CancelHandler
from vidpulse.server.backends.redis.connection import CANCEL_CHANNEL, P, RedisConnection, cancel_key

_HEARTBEAT_TTL_S = 15


class RedisSignals:
    def __init__(self, conn: RedisConnection) -> None:
        self._conn = conn
        self._cancel_handler: CancelHandler | None = None

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel_handler = handler

    async def request_cancel(self, session_id: str) -> None:
        async def request() -> None:
            async with self._conn.redis.pipeline(transaction=True) as pipe:
                pipe.set(cancel_key(session_id), "1", ex=3600)
                pipe.publish(CANCEL_CHANNEL, session_id)
                await pipe.execute()

        await self._conn.call(request)

    async def listen(self) -> None:
        while True:
            try:
                async for session_id in self._cancel_notices():
                    if self._cancel_handler is not None:
                        self._cancel_handler(session_id)
            except RedisError:
                await asyncio.sleep(1.0)

    async def _cancel_notices(self) -> AsyncIterator[str]:
        async with self._conn.blocking.pubsub() as pubsub:
            await pubsub.subscribe(CANCEL_CHANNEL)
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield str(message["data"])

    async def report_workers(self, alive: int) -> None:
        key = f"{P}workers:{self._conn.instance}"
        await self._conn.call(lambda: self._conn.redis.set(key, alive, ex=_HEARTBEAT_TTL_S))

    async def workers_alive(self, local: int) -> int:
        redis = self._conn.redis

        async def count() -> int:
            keys = [key async for key in redis.scan_iter(match=f"{P}workers:*", count=100)]
            values = await redis.mget(keys) if keys else []
            return sum(int(v) for v in values if v)

        return await self._conn.call(count)
