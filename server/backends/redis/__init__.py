"""The Redis backend: API instances and worker machines share sessions, jobs and events, on one
Redis or a Redis Cluster (connection.py lays out the keys)."""

from __future__ import annotations

from vidpulse.server.backends.protocols import Backend, Publisher
from vidpulse.server.backends.redis.connection import RedisConnection
from vidpulse.server.backends.redis.events import RedisEventLog
from vidpulse.server.backends.redis.locks import RedisLocks
from vidpulse.server.backends.redis.queue import RedisJobQueue
from vidpulse.server.backends.redis.sessions import RedisSessions
from vidpulse.server.backends.redis.signals import RedisSignals
from vidpulse.server.config import Settings
from vidpulse.server.ops.tracing import Tracing


def redis_backend(settings: Settings, publisher: Publisher, tracing: Tracing | None = None) -> Backend:
    conn = RedisConnection(settings, tracing)
    sessions = RedisSessions(conn)
    events = RedisEventLog(conn, publisher)
    jobs = RedisJobQueue(conn, sessions)
    signals = RedisSignals(conn, held=jobs.held)
    return Backend(name="redis", retries_crashed_jobs=True, shared_jobs=True,
                   connection=conn, sessions=sessions, events=events,
                   jobs=jobs, signals=signals, locks=RedisLocks(conn),
                   loops={"redis-events": events.follow, "redis-cancels": signals.listen})
