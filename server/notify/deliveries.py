"""Where webhook deliveries wait between attempts: the session folder (memory backend) or Redis.

Every store hands out due deliveries with a lease (`claim`) and takes them back with their new
state (`settle`). In one process the lease is a set; across Redis instances it is the delivery's
score in the due set, pushed past the lease: an instance that dies mid-attempt leaves the score
to fall due again, and another instance claims it. The lease's score doubles as a fencing token,
so an instance whose lease lapsed cannot overwrite the delivery's newer state.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from vidpulse.server.backends.redis.connection import answered, redis_client
from vidpulse.server.config import Settings
from vidpulse.server.notify.records import Delivery, WebhookStore
from vidpulse.server.schemas import DeliveryState
from vidpulse.server.storage.base import Storage, write_json_atomic
from vidpulse.server.storage.local import LocalStorage

log = logging.getLogger("vidpulse.webhooks")


def create_webhook_store(settings: Settings, storage: Storage) -> WebhookStore:
    if settings.backend == "redis":
        return RedisWebhookStore(settings)
    # The memory backend runs on local storage only (config validation): its state is on disk.
    assert isinstance(storage, LocalStorage)
    return MemoryWebhookStore(storage)


class MemoryWebhookStore:
    """In memory, written through to `webhooks.json` in the session folder.

    A delivery outlives its folder (a session deleted right after it was cancelled is still
    announced), but then it no longer survives a restart."""

    def __init__(self, storage: LocalStorage) -> None:
        self._storage = storage
        self._callbacks: dict[str, str] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._leased: set[str] = set()

    async def start(self) -> None:
        for name in self._storage.session_dirs():
            path = self._storage.paths(name).webhooks
            if not path.exists():
                continue
            try:
                raw = json.loads(path.read_text())
                deliveries = [Delivery.from_dict(d) for d in raw.get("deliveries", [])]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable %s (%s)", path, exc)
                continue
            if raw.get("callback_url"):
                self._callbacks[name] = raw["callback_url"]
            self._deliveries.update((d.id, d) for d in deliveries)

    async def close(self) -> None:
        pass

    async def set_callback(self, session_id: str, url: str) -> None:
        self._callbacks[session_id] = url
        self._persist(session_id)

    async def callback(self, session_id: str) -> str | None:
        return self._callbacks.get(session_id)

    async def add(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            self._deliveries.setdefault(delivery.id, delivery)
        for session_id in {d.session for d in deliveries}:
            self._persist(session_id)

    async def claim(self, now: float, lease_s: float, limit: int) -> list[Delivery]:
        due = sorted((d for d in self._deliveries.values()
                      if d.state is DeliveryState.PENDING and d.due_at <= now and d.id not in self._leased),
                     key=lambda d: d.due_at)[:limit]
        self._leased.update(d.id for d in due)
        return due

    async def settle(self, delivery: Delivery) -> None:
        self._leased.discard(delivery.id)
        self._deliveries[delivery.id] = delivery
        self._persist(delivery.session)

    async def release(self) -> None:
        self._leased.clear()

    async def next_due(self) -> float | None:
        self._forget_removed()
        due = [d.due_at for d in self._deliveries.values()
               if d.state is DeliveryState.PENDING and d.id not in self._leased]
        return min(due, default=None)

    async def for_session(self, session_id: str) -> list[Delivery]:
        return [d for d in self._deliveries.values() if d.session == session_id]

    def _persist(self, session_id: str) -> None:
        paths = self._storage.paths(session_id)
        if not paths.root.is_dir():
            return  # the session was deleted; its deliveries finish from memory
        deliveries = [d.to_dict() for d in self._deliveries.values() if d.session == session_id]
        write_json_atomic(paths.webhooks, {"callback_url": self._callbacks.get(session_id),
                                           "deliveries": deliveries})

    def _forget_removed(self) -> None:
        """Settled deliveries of sessions that are gone (expired, deleted) are of no more use."""
        gone = {d.session for d in self._deliveries.values()
                if d.state is not DeliveryState.PENDING and d.id not in self._leased
                and not self._storage.paths(d.session).root.is_dir()}
        for session_id in gone:
            self._callbacks.pop(session_id, None)
        self._deliveries = {i: d for i, d in self._deliveries.items()
                            if d.session not in gone or d.state is DeliveryState.PENDING}


# Pending deliveries (and callbacks of sessions still to finish) are kept for a week at least;
# settled ones as long as their session.
_PENDING_TTL_S = 7 * 86_400

_ADD = """
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[4]) then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
"""

_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""

# Only the holder of the lease (the due score it set) may store the outcome.
_RELEASE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
"""

_SETTLE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[5])
if ARGV[4] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1]) end
return 1
"""


Params = ParamSpec("Params")
T = TypeVar("T")


def _answering(method: Callable[Params, Coroutine[Any, Any, T]]) -> Callable[Params, Coroutine[Any, Any, T]]:
    """Redis down is a 503 for a request, and leaves a finishing job to run again (as the backend does);
    a cluster failing over is waited out, as the backend does (`answered`)."""
    @wraps(method)
    async def call(*args: Params.args, **kwargs: Params.kwargs) -> T:
        store = args[0]
        assert isinstance(store, RedisWebhookStore)
        return await answered(lambda: method(*args, **kwargs), store.failover_s)

    return call


@dataclass(frozen=True)
class WebhookKeys:
    """Under REDIS_PREFIX + `webhooks:`. Deliveries and their due times share a hash tag (one slot: the
    scripts above use both); a session's list of deliveries and its callback URL are in the session's
    slot (its tag, as server/backends/redis/connection.py lays out)."""

    prefix: str

    @property
    def due(self) -> str:
        return self.prefix + "{due}"

    def delivery(self, delivery_id: str) -> str:
        return f"{self.prefix}{{due}}:{delivery_id}"

    def session(self, session_id: str) -> str:
        return f"{self.prefix}session:{{{session_id}}}"

    def callback(self, session_id: str) -> str:
        return f"{self.prefix}callback:{{{session_id}}}"


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class RedisWebhookStore:
    """Deliveries as JSON strings, a sorted set of due times (ms) shared by every instance, and a
    set of delivery ids per session."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._redis: Any = redis_client(settings)
        self.keys = WebhookKeys(settings.redis_prefix + "webhooks:")
        self.failover_s = settings.redis_outage_grace_s if settings.redis_cluster else 0.0
        self._leases: dict[str, int] = {}
        self._settled_ttl_s = int(settings.session_ttl_s) + 3600
        self._add: Any = self._redis.register_script(_ADD)
        self._claim: Any = self._redis.register_script(_CLAIM)
        self._settle: Any = self._redis.register_script(_SETTLE)
        self._release: Any = self._redis.register_script(_RELEASE)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        await self._redis.aclose()

    @_answering
    async def set_callback(self, session_id: str, url: str) -> None:
        ttl = _PENDING_TTL_S + int(self._settings.session_ttl_s)
        await self._redis.set(self.keys.callback(session_id), url, ex=ttl)

    @_answering
    async def callback(self, session_id: str) -> str | None:
        value = await self._redis.get(self.keys.callback(session_id))
        return None if value is None else str(value)

    @_answering
    async def add(self, deliveries: list[Delivery]) -> None:
        for d in deliveries:
            # Listed under the session after it is stored (another slot): a crash in between is
            # made good by the job's next run, which adds the same deliveries again.
            await self._add(keys=[self.keys.delivery(d.id), self.keys.due],
                            args=[d.id, json.dumps(d.to_dict()), _ms(d.due_at), _PENDING_TTL_S])
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.sadd(self.keys.session(d.session), d.id)
                pipe.expire(self.keys.session(d.session), _PENDING_TTL_S)
                await pipe.execute()

    async def claim(self, now: float, lease_s: float, limit: int) -> list[Delivery]:
        until = _ms(now + lease_s)
        ids = await self._claim(keys=[self.keys.due], args=[_ms(now), until, limit])
        if not ids:
            return []
        docs = await self._redis.mget([self.keys.delivery(i) for i in ids])
        claimed = []
        for delivery_id, doc in zip(ids, docs, strict=True):
            if doc is None:  # expired or removed: nothing left to send
                await self._redis.zrem(self.keys.due, delivery_id)
                continue
            self._leases[delivery_id] = until
            claimed.append(Delivery.from_dict(json.loads(doc)))
        return claimed

    async def settle(self, delivery: Delivery) -> None:
        token = self._leases.pop(delivery.id, None)
        pending = delivery.state is DeliveryState.PENDING
        stored = await self._settle(keys=[self.keys.due, self.keys.delivery(delivery.id)],
                                    args=[delivery.id, token if token is not None else -1,
                                          json.dumps(delivery.to_dict()), _ms(delivery.due_at) if pending else "",
                                          _PENDING_TTL_S if pending else self._settled_ttl_s])
        if not stored:
            log.warning("webhook %s: lease lapsed during the attempt; another instance owns it", delivery.id)

    async def release(self) -> None:
        now = _ms(time.time())
        for delivery_id, token in self._leases.items():
            await self._release(keys=[self.keys.due], args=[delivery_id, token, now])
        self._leases.clear()

    async def next_due(self) -> float | None:
        first = await self._redis.zrange(self.keys.due, 0, 0, withscores=True)
        return float(first[0][1]) / 1000 if first else None

    @_answering
    async def for_session(self, session_id: str) -> list[Delivery]:
        ids = sorted(await self._redis.smembers(self.keys.session(session_id)))
        docs = await self._redis.mget([self.keys.delivery(i) for i in ids]) if ids else []
        return [Delivery.from_dict(json.loads(doc)) for doc in docs if doc]
