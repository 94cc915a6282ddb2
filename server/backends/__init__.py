"""Where sessions, event logs and the job queue live: memory (default) or Redis."""

from __future__ import annotations

from vidpulse.server.backends.protocols import Backend
from vidpulse.server.config import Settings
from vidpulse.server.storage.local import Storage
from vidpulse.server.streams.hub import Hub


def create_backend(settings: Settings, storage: Storage, hub: Hub) -> Backend:
    if settings.backend == "redis":
        from vidpulse.server.backends.redis import RedisBackend

        return RedisBackend(settings, storage, hub)
    from vidpulse.server.backends.memory import MemoryBackend
    from vidpulse.server.storage.local import LocalStorage

    # Config validation allows the memory backend with local storage only (its state is on disk).
    assert isinstance(storage, LocalStorage)
    return MemoryBackend(settings, storage, hub)


__all__ = ["Backend", "create_backend"]
