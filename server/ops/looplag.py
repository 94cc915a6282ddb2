"""How late the event loop runs what it was asked to run: the one figure that shows blocking work
(a synchronous file write, a long computation) stalling every client of the instance at once."""

from __future__ import annotations

import asyncio
from collections import deque

_INTERVAL_S = 0.5
_WINDOW = 20  # samples: the gauge is the worst lag of the last ~10 s, so a scrape never misses a stall


class LoopLag:
    def __init__(self) -> None:
        self._samples: deque[float] = deque(maxlen=_WINDOW)

    @property
    def seconds(self) -> float:
        return max(self._samples, default=0.0)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(_INTERVAL_S)
            self._samples.append(max(0.0, loop.time() - before - _INTERVAL_S))
