"""The Redis backend's connection, shared by its parts, and the layout of its keys.

One layout serves a single Redis and a Redis Cluster (`REDIS_CLUSTER=1`) alike: every key of a
session carries the session id as its hash tag (`{id}`), so they share one slot, and every key that
is no one session's either stands alone or shares the tag of the keys it is used with. No command,
transaction or script touches two slots; where the work of one used to, it is now steps in a stated
order, each in one slot (sessions.py, queue.py say what a crash between them leaves).

Keys (under a prefix, `vp:` unless REDIS_PREFIX says otherwise):
- `session:{id}`   hash: `doc` (the manifest JSON), `state`, `progress` (written with each
                   progress event, apart from `doc` so a worker never overwrites a cancel), and
                   `attempt`: the current attempt, which every write of a job's attempt is checked
                   against in the script that writes (backends/fencing.py, FENCED below).
- `events:{id}`    stream: the session's event log; stream ids are the event ids.
- `notices:{id}`   sharded pub/sub channel (not a key, in the same slot): each event as it is
                   logged, for the instances that follow the session (events.py).
- `sessions`       sorted set of ids by creation time: the list across instances.
- `{jobs}`         stream with consumer group `workers`: at-least-once delivery. A worker that
                   dies leaves its entry pending; others claim it (XAUTOCLAIM) once it has been
                   idle for JOB_VISIBILITY_S, which heartbeats (XCLAIM by the owner, only while it
                   is the owner) keep from happening while the job is alive. A host that stops
                   hands its entries back by making them idle at once (XCLAIM IDLE).
- `{jobs}:queued`  sorted set: the waiting jobs in order, for positions and queued cancels (the
                   stream's hash tag: both change in one transaction).
- `cancel`         sharded channel: cancel requests, to every instance (signals.py).
- `workers`        hash: each instance's live worker count and until when it holds.
- `lock:{name}`    a leased lock.
- `reconcile`      the lock of the sweep for jobless sessions.
The webhook store (server/notify/deliveries.py) adds its own keys in the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry.instrumentation.redis import RedisInstrumentor
from redis import asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClusterError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from vidpulse.server.config import Settings
from vidpulse.server.errors import ServiceUnavailable
from vidpulse.server.models import Session
from vidpulse.server.ops.tracing import Tracing

GROUP = "workers"
# The fence, for scripts that write a session on behalf of an attempt: given the session's hash and
# the attempt ('' for a write that is no job's), true when it is no longer the current one.
FENCED = """
local function superseded(session_key, attempt)
  return attempt ~= '' and redis.call('HGET', session_key, 'attempt') ~= attempt
end
"""
_RETRIES = 3
# What a cluster answers while it fails over (a master gone, its replica not yet promoted).
_FAILOVER_ERRORS = (RedisConnectionError, RedisTimeoutError, ClusterError, TryAgainError, SlotNotCoveredError)
T = TypeVar("T")


class BackendUnavailable(ServiceUnavailable):
    slug = "backend-unavailable"


@dataclass(frozen=True)
class Keys:
    """The layout above, under REDIS_PREFIX (`vp:`): deployments (or tests) that share a cluster,
    which has no numbered databases, keep apart by their prefixes."""

    prefix: str = "vp:"

    def session(self, session_id: str) -> str:
        return self._of("session", session_id)

    def events(self, session_id: str) -> str:
        return self._of("events", session_id)

    def notices(self, session_id: str) -> str:
        return self._of("notices", session_id)

    def session_of(self, notices: str) -> str:
        """The session whose `notices` channel this is."""
        return notices.removeprefix(f"{self.prefix}notices:{{").removesuffix("}")

    def lock(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    @property
    def jobs(self) -> str:
        return self.prefix + "{jobs}"

    @property
    def queued(self) -> str:
        return self.prefix + "{jobs}:queued"

    @property
    def sessions(self) -> str:
        return self.prefix + "sessions"

    @property
    def workers(self) -> str:
        return self.prefix + "workers"

    @property
    def cancel(self) -> str:
        return self.prefix + "cancel"

    @property
    def reconcile(self) -> str:
        return self.prefix + "reconcile"

    def _of(self, kind: str, session_id: str) -> str:
        return f"{self.prefix}{kind}:{{{session_id}}}"


def arg(value: int | None) -> str:
    """A script argument that may be absent ('')."""
    return "" if value is None else str(value)


def redis_client(settings: Settings) -> Any:
    """A client of REDIS_URL: a cluster's (which follows its slots and failovers) or a server's.

    Typed Any: redis-py declares each reply as the union of every shape a command can return.
    redis-py's own retry: a command that meets a dead connection (killed, a failover, stale after an
    outage) is sent again on a fresh one with backoff, so a blip never reaches the caller. The
    asyncio Retry is needed: the synchronous one does not retry async commands."""
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), _RETRIES)
    options: dict[str, Any] = {"decode_responses": True, "socket_connect_timeout": 2, "health_check_interval": 10,
                               "retry": retry}
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, **options)
    return aioredis.Redis.from_url(settings.redis_url, retry_on_error=[RedisConnectionError, RedisTimeoutError],
                                   **options)


async def answered(operation: Callable[[], Awaitable[T]], failover_s: float) -> T:
    """`operation`, or BackendUnavailable when Redis does not answer.

    Transient connection errors (a killed connection) were already retried on a fresh connection
    by redis-py's Retry (redis_client); what reaches here is an outage, or a cluster failing over:
    that is waited out for up to `failover_s` (0 on a single Redis), the operation sent again with
    backoff, so a failover shorter than that goes unnoticed."""
    delay, until = 0.05, None
    while True:
        try:
            return await operation()
        except (RedisError, RedisClusterException) as exc:
            now = time.monotonic()
            until = now + failover_s if until is None else until
            if not _failing_over(exc) or now >= until:
                raise BackendUnavailable("Redis is not answering; try again in a moment.") from exc
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


def _failing_over(exc: Exception) -> bool:
    return isinstance(exc, _FAILOVER_ERRORS) and not isinstance(exc, AuthenticationError | AuthorizationError)


class RedisConnection:
    def __init__(self, settings: Settings, tracing: Tracing | None = None) -> None:
        self.settings = settings
        self.cluster = settings.redis_cluster
        self.keys = Keys(settings.redis_prefix)
        self.redis: Any = redis_client(settings)
        if tracing is not None and tracing.enabled:  # a span per command (not for the blocking reads' polls)
            RedisInstrumentor.instrument_client(self.redis, tracer_provider=tracing.provider)
        # Blocking reads get connections of their own so they never hold up ordinary commands.
        self.blocking: Any = redis_client(settings)
        self.instance = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        # How long a command is sent again while a cluster fails over (answered).
        self.failover_s = settings.redis_outage_grace_s if self.cluster else 0.0

    async def start(self) -> list[Session]:
        with contextlib.suppress(RedisError, RedisClusterException):
            await self.ensure_group()
        return []  # the job stream survives restarts; nothing to queue again

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.keys.jobs, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def close(self) -> None:
        with contextlib.suppress(RedisError, RedisClusterException):
            await self.redis.hdel(self.keys.workers, self.instance)
        await self.redis.aclose()
        await self.blocking.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, RedisClusterException):
            return False

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        return await answered(operation, self.failover_s)

    # Sharded pub/sub (notices.py): a channel is subscribed on the server that serves its slot.

    async def shard_of(self, channel: str) -> str:
        """The server that serves `channel`: a cluster node's name, '' on a single Redis."""
        if not self.cluster:
            return ""
        await self.redis.initialize()  # the slot map, once (a no-op after)
        return str(self.redis.get_node_from_key(channel).name)

    def shard_client(self, shard: str) -> aioredis.Redis:
        """A client of that one server, for its pub/sub connection (no retry of its own: a lost
        connection ends the subscriber's read, which then subscribes again, wherever the slot is)."""
        options: dict[str, Any] = {"decode_responses": True, "socket_connect_timeout": 2, "socket_keepalive": True,
                                   "retry": Retry(ExponentialBackoff(), 0)}
        if not self.cluster:
            return aioredis.Redis.from_url(self.settings.redis_url, **options)
        host, _, port = shard.rpartition(":")
        server: dict[str, Any] = {k: v for k, v in parse_url(self.settings.redis_url).items() if k != "db"}
        server.update(host=host, port=int(port))
        return aioredis.Redis(connection_pool=aioredis.ConnectionPool(**server, **options))

    async def refresh_shards(self) -> None:
        """Read the cluster's slot map again (after a failover moved a slot's master)."""
        if self.cluster:
            await self.redis.nodes_manager.initialize()
