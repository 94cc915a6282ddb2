"""Leased locks: SET NX PX, refreshed and released only by the token that holds them."""

from __future__ import annotations

from vidpulse.server.backends.redis.connection import RedisConnection

_REFRESH_LOCK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLocks:
    def __init__(self, conn: RedisConnection) -> None:
        self._conn = conn
        self._redis = conn.redis
        self._key = conn.keys.lock

    async def try_lock(self, name: str, token: str, ttl_s: float) -> bool:
        taken = await self._conn.call(lambda: self._redis.set(self._key(name), token, nx=True, px=int(ttl_s * 1000)))
        return bool(taken) or await self.refresh_lock(name, token, ttl_s)

    async def refresh_lock(self, name: str, token: str, ttl_s: float) -> bool:
        return bool(await self._conn.call(
            lambda: self._redis.eval(_REFRESH_LOCK, 1, self._key(name), token, int(ttl_s * 1000))))

    async def unlock(self, name: str, token: str) -> None:
        await self._conn.call(lambda: self._redis.eval(_UNLOCK, 1, self._key(name), token))
