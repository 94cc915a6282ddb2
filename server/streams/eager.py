"""Run a coroutine in the caller's frame until it first has to wait.

This is what Python 3.12's eager tasks do for a whole task, for one `send`: an ASGI `send` finishes
without waiting whenever the socket is not paused, so the hub can write an event to a thousand
connections from `publish` itself instead of waking a thousand tasks to do it. The rare send that
does wait (a client reading slowly) is handed over, unfinished, to its connection's own task.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any


class Rest:
    """The rest of a coroutine that `step` started: awaiting it resumes the coroutine where it
    stopped, waiting on what it was waiting on (the same as `await` on it would have)."""

    def __init__(self, coro: Coroutine[Any, Any, None], blocker: Any) -> None:
        self._coro = coro
        self._blocker = blocker

    def __await__(self) -> Generator[Any, None, None]:
        blocker = self._blocker
        while True:
            try:
                yield blocker
            except BaseException as exc:  # cancelled (or thrown into) while waiting: pass it on
                try:
                    blocker = self._coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    blocker = self._coro.send(None)
                except StopIteration:
                    return

    def close(self) -> None:
        """Abandon it (its connection is gone): the coroutine's `finally` blocks run now."""
        self._coro.close()


def step(coro: Coroutine[Any, Any, None]) -> Rest | None:
    """Run `coro` until it finishes (None) or has to wait (its `Rest`); its errors propagate."""
    try:
        blocker = coro.send(None)
    except StopIteration:
        return None
    return Rest(coro, blocker)
