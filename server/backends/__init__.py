"""Where sessions, event logs and the job queue live: memory (default) or Redis, each as the parts
of backends/protocols.py."""

from __future__ import annotations

from vidpulse.server.backends.protocols import Backend, Publisher
from vidpulse.server.config import Settings
from vidpulse.server.ops.tracing import Tracing
from vidpulse.server.storage.base import Storage
from vidpulse.server.storage.local import LocalStorage


def create_backend(settings: Settings, storage: Storage, publisher: Publisher,
                   tracing: Tracing | None = None) -> Backend:
    if settings.backend == "redis":
        from vidpulse.server.backends.redis import redis_backend

        return redis_backend(settings, publisher, tracing)
    from vidpulse.server.backends.memory import memory_backend

    # Config validation allows the memory backend with local storage only (its state is on disk).
    assert isinstance(storage, LocalStorage)
    return memory_backend(storage, publisher, settings.live_log_s)
