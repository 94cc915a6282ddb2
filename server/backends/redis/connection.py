"""The Redis backend's connection, shared by its parts, and the layout of its keys.

Keys (prefix `vp:`):
- `session:{id}`   hash: `doc` (the manifest JSON), `state`, `progress` (written with each
                   progress event, apart from `doc` so a worker never overwrites a cancel), and
                   `attempt`: the current attempt, which every write of a job's attempt is checked
                   against in the script that writes (backends/fencing.py, FENCED below).
- `sessions`       sorted set of ids by creation time: the list across instances.
- `events:{id}`    stream: the session's event log; stream ids are the event ids.
- `jobs`           stream with consumer group `workers`: at-least-once delivery. A worker that
                   dies leaves its entry pending; others claim it (XAUTOCLAIM) once it has been
                   idle for JOB_VISIBILITY_S, which heartbeats (XCLAIM by the owner, only while it
                   is the owner) keep from happening while the job is alive. A host that stops
                   hands its entries back by making them idle at once (XCLAIM IDLE).
- `queued`         sorted set: the waiting jobs in order, for positions and queued cancels.
- `cancel:{id}`    flag, plus a notice on the `cancel` channel to every worker host.
- `workers:{inst}` worker heartbeat per instance, with a short TTL.
- `lock:{name}`    a leased lock.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from opentelemetry.instrumentation.redis import RedisInstrumentor
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from vidpulse.server.config import Settings
from vidpulse.server.errors import ServiceUnavailable
from vidpulse.server.models import Session
from vidpulse.server.ops.tracing import Tracing

P = "vp:"
JOBS, GROUP, QUEUED, SESSIONS, CANCEL_CHANNEL = P + "jobs", "workers", P + "queued", P + "sessions", P + "cancel"
RECONCILE_LOCK = P + "reconcile"
# The fence, for scripts that write a session on behalf of an attempt: given the session's hash and
# the attempt ('' for a write that is no job's), true when it is no longer the current one.
FENCED = """
local function superseded(session_key, attempt)
  return attempt ~= '' and redis.call('HGET', session_key, 'attempt') ~= attempt
end
"""
_RETRIES = 3
T = TypeVar("T")


class BackendUnavailable(ServiceUnavailable):
    slug = "backend-unavailable"


def session_key(session_id: str) -> str:
    return f"{P}session:{session_id}"


def events_key(session_id: str) -> str:
    return f"{P}events:{session_id}"


def cancel_key(session_id: str) -> str:
    return f"{P}cancel:{session_id}"


def arg(value: int | None) -> str:
    """A script argument that may be absent ('')."""
    return "" if value is None else str(value)


class RedisConnection:
    def __init__(self, settings: Settings, tracing: Tracing | None = None) -> None:
        self.settings = settings
        # Typed Any: redis-py declares each reply as the union of every shape a command can return.
        self.redis: Any = _client(settings.redis_url)
        if tracing is not None and tracing.enabled:  # a span per command (not for the blocking reads' polls)
            RedisInstrumentor.instrument_client(self.redis, tracer_provider=tracing.provider)
        # Blocking reads get connections of their own so they never hold up ordinary commands.
        self.blocking: Any = _client(settings.redis_url)
        self.instance = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    async def start(self) -> list[Session]:
        with contextlib.suppress(RedisError):
            await self.ensure_group()
        return []  # the job stream survives restarts; nothing to queue again

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(JOBS, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def close(self) -> None:
        with contextlib.suppress(RedisError):
            await self.redis.delete(f"{P}workers:{self.instance}")
        await self.redis.aclose()
        await self.blocking.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        # Transient connection errors (a killed connection, a failover) were already retried on a
        # fresh connection by redis-py's Retry (see _client); what reaches here is an outage.
        try:
            return await operation()
        except RedisError as exc:
            raise BackendUnavailable("Redis is not answering; try again in a moment.") from exc


def _client(url: str) -> aioredis.Redis:
    # redis-py's own retry: a command that meets a dead connection (killed, a failover, stale
    # after an outage) is sent again on a fresh one with backoff, so a blip never reaches the
    # caller. The asyncio Retry is needed: the synchronous one does not retry async commands.
    return aioredis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, health_check_interval=10,
                                   retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), _RETRIES),
                                   retry_on_error=[RedisConnectionError, RedisTimeoutError])
