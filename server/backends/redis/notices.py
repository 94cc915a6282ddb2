"""Sharded pub/sub for one loop of an instance: each channel is subscribed (SSUBSCRIBE) on the server
that serves its slot, with one connection per server (one in all on a single Redis), and whatever
arrives on any of them comes out of `next` one notice at a time, in the order each server sent it.

Invariant: every (re)subscription of a channel yields a notice without data (`subscribed`) before
any message that follows it, so a reader that catches up from a position of its own on that notice,
and skips messages it has already seen, misses nothing that was published while it was not
subscribed. Pub/sub keeps nothing for a subscriber that is away: the notice is the only sign of it.

A connection that fails (its server killed, a failover moving the slot elsewhere) ends `next` with
the error; the loop then `reset`s, asks for the slot map again and subscribes everything afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from vidpulse.server.backends.redis.connection import RedisConnection


@dataclass(frozen=True)
class Notice:
    channel: str
    data: str | None  # None: the channel was (re)subscribed; what came before it is not here

    @property
    def subscribed(self) -> bool:
        return self.data is None


_WAKE = Notice("", "")


class Subscriber:
    def __init__(self, conn: RedisConnection) -> None:
        self._conn = conn
        self._shards: dict[str, str] = {}  # channel -> the server it is subscribed on
        self._clients: dict[str, Any] = {}  # server -> its client
        self._pubsubs: dict[str, Any] = {}  # server -> its pub/sub connection
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._items: asyncio.Queue[Notice | Exception] = asyncio.Queue()

    @property
    def channels(self) -> set[str]:
        return set(self._shards)

    async def subscribe(self, channel: str) -> None:
        if channel in self._shards:
            return
        shard = await self._conn.shard_of(channel)
        if shard not in self._pubsubs:
            self._clients[shard] = self._conn.shard_client(shard)
            self._pubsubs[shard] = self._clients[shard].pubsub()
        await self._pubsubs[shard].ssubscribe(channel)
        self._shards[channel] = shard
        if shard not in self._readers:
            self._readers[shard] = asyncio.create_task(self._read(self._pubsubs[shard]), name=f"notices-{shard}")

    async def unsubscribe(self, channel: str) -> None:
        shard = self._shards.pop(channel, None)
        if shard is not None:
            await self._pubsubs[shard].sunsubscribe(channel)

    def wake(self) -> None:
        """Have the waiting `next` return None (the loop has something to do)."""
        self._items.put_nowait(_WAKE)

    async def next(self, wait_s: float | None) -> Notice | None:
        """The next notice; None after `wait_s` or a `wake`. Raises what ended a connection."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that comes as
        # an item arrives, and the loop would never stop.
        try:
            async with asyncio.timeout(wait_s):
                item = await self._items.get()
        except TimeoutError:
            return None
        if isinstance(item, Exception):
            raise item
        return None if item is _WAKE else item

    async def _read(self, pubsub: Any) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue  # a health check's answer
                if message["type"] == "ssubscribe":
                    self._items.put_nowait(Notice(message["channel"], None))
                elif message["type"] == "smessage":
                    self._items.put_nowait(Notice(message["channel"], message["data"]))
        except (RedisError, OSError) as exc:
            self._items.put_nowait(exc)

    async def reset(self) -> None:
        """Every connection closed and every subscription forgotten (the caller subscribes again)."""
        for task in self._readers.values():
            task.cancel()
        for task in self._readers.values():
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await task
        for shard, client in self._clients.items():
            with contextlib.suppress(RedisError, OSError):
                await self._pubsubs[shard].aclose()
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
        self._shards.clear()
        self._clients.clear()
        self._pubsubs.clear()
        self._readers.clear()
        self._items = asyncio.Queue()
