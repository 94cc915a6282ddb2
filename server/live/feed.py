"""A coroutine run in a thread of its own, with its own event loop, for the synchronous analysis: the
HLS follower fetches the next segments while the analysis decodes the last ones."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any

_JOIN_S = 5.0


class Feed:
    def __init__(self, main: Callable[[], Coroutine[Any, Any, None]], name: str = "vidpulse-feed") -> None:
        self._main = main
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Feed:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Cancel the coroutine and wait for the thread (a stuck one is left behind: it is a daemon)."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join(_JOIN_S)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            self._ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main()

        try:
            asyncio.run(main())
        finally:
            self._ready.set()
