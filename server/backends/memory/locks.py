"""Leased locks in a dict, with the same rules as Redis's (an expired lock is lost)."""

from __future__ import annotations

import time


class MemoryLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[str, float]] = {}  # name -> (token, monotonic deadline)

    async def try_lock(self, name: str, token: str, ttl_s: float) -> bool:
        holder = self._locks.get(name)
        now = time.monotonic()
        if holder is not None and holder[0] != token and holder[1] > now:
            return False
        self._locks[name] = (token, now + ttl_s)
        return True

    async def refresh_lock(self, name: str, token: str, ttl_s: float) -> bool:
        holder = self._locks.get(name)
        now = time.monotonic()
        if holder is None or holder[0] != token or holder[1] <= now:
            return False  # as on Redis: an expired lock is lost, even if nobody took it
        self._locks[name] = (token, now + ttl_s)
        return True

    async def unlock(self, name: str, token: str) -> None:
        if self._locks.get(name, ("",))[0] == token:
            del self._locks[name]
