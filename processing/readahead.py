"""Run an iterator in a background thread, a few items ahead of its consumer.

Decoding (PyAV) and shrinking (OpenCV) release the GIL, so a decode thread keeps FFmpeg busy
while the loop analyses the previous frame (see docs/benchmarks.md for what it gains).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL_S = 0.05


class _End:
    pass


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterates `source` in a daemon thread, holding at most `depth` items ready.

    `close()` stops the thread and waits for it: call it before releasing anything the
    source uses (the decoder must not run while its container is closed).
    """

    def __init__(self, source: Iterator[T], depth: int, name: str = "read-ahead") -> None:
        self._source = source
        self._queue: queue.Queue[T | _End | _Failed] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            # Unblock a producer waiting on a full queue.
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()
            self._thread.join(_POLL_S)

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
            self._put(_End())
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._put(_Failed(error))

    def _put(self, item: T | _End | _Failed) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False
