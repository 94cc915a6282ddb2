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
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from vidpulse.server.config import Settings
from vidpulse.server.errors import ServiceUnavailable
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


P = "vp:webhooks:"
DUE = P + "due"
# Pending deliveries (and callbacks of sessions still to finish) are kept for a week at least;
# settled ones as long as their session.
_PENDING_TTL_S = 7 * 86_400

_ADD = """
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[4]) then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  redis.call('SADD', KEYS[3], ARGV[1])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
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
    """Redis down is a 503 for a request, and leaves a finishing job to run again (as the backend does)."""
    @wraps(method)
    async def call(*args: Params.args, **kwargs: Params.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except RedisError as exc:
            raise ServiceUnavailable("Redis is not answering; try again in a moment.") from exc

    return call


def _doc_key(delivery_id: str) -> str:
    return f"{P}delivery:{delivery_id}"


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class RedisWebhookStore:
    """Deliveries as JSON strings, a sorted set of due times (ms) shared by every instance, and a
    set of delivery ids per session."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._redis: Any = aioredis.Redis.from_url(settings.redis_url, decode_responses=True,
                                                   socket_connect_timeout=2, health_check_interval=10)
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
        await self._redis.set(f"{P}callback:{session_id}", url, ex=ttl)

    @_answering
    async def callback(self, session_id: str) -> str | None:
        value = await self._redis.get(f"{P}callback:{session_id}")
        return None if value is None else str(value)

    @_answering
    async def add(self, deliveries: list[Delivery]) -> None:
        for d in deliveries:
            await self._add(keys=[_doc_key(d.id), DUE, f"{P}session:{d.session}"],
                            args=[d.id, json.dumps(d.to_dict()), _ms(d.due_at), _PENDING_TTL_S])

    async def claim(self, now: float, lease_s: float, limit: int) -> list[Delivery]:
        until = _ms(now + lease_s)
        ids = await self._claim(keys=[DUE], args=[_ms(now), until, limit])
        if not ids:
            return []
        docs = await self._redis.mget([_doc_key(i) for i in ids])
        claimed = []
        for delivery_id, doc in zip(ids, docs, strict=True):
            if doc is None:  # expired or removed: nothing left to send
                await self._redis.zrem(DUE, delivery_id)
                continue
            self._leases[delivery_id] = until
            claimed.append(Delivery.from_dict(json.loads(doc)))
        return claimed

    async def settle(self, delivery: Delivery) -> None:
        token = self._leases.pop(delivery.id, None)
        pending = delivery.state is DeliveryState.PENDING
        stored = await self._settle(keys=[DUE, _doc_key(delivery.id)],
                                    args=[delivery.id, token if token is not None else -1,
                                          json.dumps(delivery.to_dict()), _ms(delivery.due_at) if pending else "",
                                          _PENDING_TTL_S if pending else self._settled_ttl_s])
        if not stored:
            log.warning("webhook %s: lease lapsed during the attempt; another instance owns it", delivery.id)

    async def release(self) -> None:
        now = _ms(time.time())
        for delivery_id, token in self._leases.items():
            await self._release(keys=[DUE], args=[delivery_id, token, now])
        self._leases.clear()

    async def next_due(self) -> float | None:
        first = await self._redis.zrange(DUE, 0, 0, withscores=True)
        return float(first[0][1]) / 1000 if first else None

    @_answering
    async def for_session(self, session_id: str) -> list[Delivery]:
        ids = sorted(await self._redis.smembers(f"{P}session:{session_id}"))
        docs = await self._redis.mget([_doc_key(i) for i in ids]) if ids else []
        return [Delivery.from_dict(json.loads(doc)) for doc in docs if doc]
