"""The embedded backend: sessions in a dict, a manifest and an event log file per session folder."""

from __future__ import annotations

from vidpulse.server.backends.memory.events import MemoryEventLog
from vidpulse.server.backends.memory.files import FileWriter
from vidpulse.server.backends.memory.locks import MemoryLocks
from vidpulse.server.backends.memory.queue import MemoryJobQueue
from vidpulse.server.backends.memory.sessions import MemorySessions
from vidpulse.server.backends.memory.signals import MemorySignals
from vidpulse.server.backends.memory.state import MemoryConnection, MemoryState
from vidpulse.server.backends.protocols import Backend, Publisher
from vidpulse.server.storage.local import LocalStorage


def memory_backend(storage: LocalStorage, publisher: Publisher, live_log_s: float = 3600.0) -> Backend:
    state = MemoryState(storage, FileWriter(storage))
    jobs = MemoryJobQueue(state)
    return Backend(name="memory", retries_crashed_jobs=False, shared_jobs=False,
                   connection=MemoryConnection(state),
                   sessions=MemorySessions(state, jobs), events=MemoryEventLog(state, publisher, live_log_s), jobs=jobs,
                   signals=MemorySignals(), locks=MemoryLocks(), loops={"session-files": state.files.run})
