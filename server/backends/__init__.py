"""Where sessions, event logs and the job queue live: memory (default) or Redis."""

from __future__ import annotations

from ..config import Settings
from ..hub import Hub
from ..storage import Storage
from .base import Backend


def create_backend(settings: Settings, storage: Storage, hub: Hub) -> Backend:
    if settings.backend == "redis":
        from .redis import RedisBackend

        return RedisBackend(settings, storage, hub)
    from ..storage import LocalStorage
    from .memory import MemoryBackend

    # Config validation allows the memory backend with local storage only (its state is on disk).
    assert isinstance(storage, LocalStorage)
    return MemoryBackend(settings, storage, hub)


__all__ = ["Backend", "create_backend"]
