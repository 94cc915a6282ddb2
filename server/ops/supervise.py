"""Long-lived background loops, supervised: a loop that dies is logged with its traceback and
started again with backoff, and while a required one is down the instance says it is not ready.

A loop is any coroutine function that is meant to run until cancelled; returning counts as dying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("vidpulse.supervise")

LoopFunction = Callable[[], Awaitable[None]]
# A loop that ran this long before dying starts again at the shortest delay.
_HEALTHY_AFTER_S = 60.0


@dataclass
class _Loop:
    name: str
    run: LoopFunction
    required: bool
    up: bool = False
    restarts: int = 0
    task: asyncio.Task[None] | None = None


class Supervisor:
    def __init__(self, min_backoff_s: float = 0.5, max_backoff_s: float = 30.0) -> None:
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._loops: dict[str, _Loop] = {}

    def start(self, name: str, run: LoopFunction, required: bool = True) -> None:
        loop = _Loop(name, run, required)
        self._loops[name] = loop
        loop.task = asyncio.create_task(self._keep_running(loop), name=name)

    async def _keep_running(self, loop: _Loop) -> None:
        backoff = self._min_backoff_s
        while True:
            started = time.monotonic()
            loop.up = True
            try:
                await loop.run()
                log.error("background task %s returned; starting it again in %.1f s", loop.name, backoff)
            except Exception:
                log.exception("background task %s died; starting it again in %.1f s", loop.name, backoff)
            loop.up = False
            loop.restarts += 1
            if time.monotonic() - started > _HEALTHY_AFTER_S:
                backoff = self._min_backoff_s
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)

    def down(self) -> list[str]:
        """Required loops not running right now (waiting to be started again)."""
        return sorted(loop.name for loop in self._loops.values() if loop.required and not loop.up)

    def restarts(self) -> dict[str, int]:
        return {name: loop.restarts for name, loop in self._loops.items()}

    async def stop(self) -> None:
        tasks = [loop.task for loop in self._loops.values() if loop.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops.clear()
