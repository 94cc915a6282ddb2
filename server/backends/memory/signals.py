"""Signals within one process: a cancel goes straight to the worker pool."""

from __future__ import annotations

from vidpulse.server.backends.protocols import CancelHandler


class MemorySignals:
    def __init__(self) -> None:
        self._cancel_handler: CancelHandler | None = None

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel_handler = handler

    async def request_cancel(self, session_id: str) -> None:
        if self._cancel_handler is not None:
            self._cancel_handler(session_id)

    async def report_workers(self, alive: int) -> None:
        pass  # one process: readiness asks the pool directly

    async def workers_alive(self, local: int) -> int:
        return local
