"""Segmented sources (HLS): segments arrive in a queue from a fetcher's thread and are read as runs.

A run reads its segments as one byte stream (MPEG-TS segments concatenate into one stream, and fMP4
media segments behind their init section into one fragmented MP4), so one demuxer and one decoder
follow the stream across segment boundaries: no frame is lost or doubled at a boundary, and timestamps
stay continuous. Reading blocks until the next segment arrives. Anything but a segment that continues
the run (a discontinuity, a gap, a lost source, the end) ends the run at the end of its last segment
and is the next item the analysis gets.
"""

from __future__ import annotations

import io
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
from av.container import InputContainer

from vidpulse.processing.live.items import Ended, Item, Tick

# How long a wait for the next item lasts before the analysis gets a Tick (or a read checks whether
# the analysis is stopping).
TICK_S = 0.2
# Bound what FFmpeg reads before the first frame: a live run must start on its first segment.
_CONTAINER_OPTIONS = {"probesize": "500000", "analyzeduration": "1000000"}


@dataclass(frozen=True)
class Segment:
    """One media segment, as fetched. `behind_s`: media the source listed after it when it was fetched
    (for the lag). `init`: the fMP4 init section it needs (EXT-X-MAP), if any."""

    data: bytes
    duration_s: float
    discontinuity: bool = False
    behind_s: float = 0.0
    init: bytes | None = None


class SegmentQueue:
    """The analysis's side of the queue a fetcher fills with Segments and other items."""

    def __init__(self, inbox: queue.Queue[Segment | Item | BaseException], stopping: Callable[[], bool]) -> None:
        self._inbox = inbox
        self._stopping = stopping
        self._held: Segment | Item | BaseException | None = None

    def items(self) -> Iterator[Item]:
        """Runs and the other items, until Ended (or the fetcher raises: SourceLost, ...)."""
        while True:
            item = self._take()
            if item is None:
                yield Tick()
                continue
            if isinstance(item, BaseException):
                raise item
            yield SegmentRun(self, item) if isinstance(item, Segment) else item
            if isinstance(item, Ended):
                return

    def continuation(self) -> Segment | None:
        """The next segment of the current run, waiting for it; None when the run ends here (the item
        that ended it is held for `items`) or the analysis is stopping."""
        while not self._stopping():
            item = self._take()
            if item is None:
                continue
            if isinstance(item, Segment) and not item.discontinuity:
                return item
            self._held = item
            return None
        return None

    def _take(self) -> Segment | Item | BaseException | None:
        if self._held is not None:
            item, self._held = self._held, None
            return item
        try:
            return self._inbox.get(timeout=TICK_S)
        except queue.Empty:
            return None


class SegmentRun(io.RawIOBase):
    """A run of segments, read as one stream by PyAV (a file object)."""

    def __init__(self, segments: SegmentQueue, first: Segment) -> None:
        super().__init__()
        self._segments = segments
        self._buffer = memoryview((first.init or b"") + first.data)
        self._received_s = first.duration_s
        self._behind_s = first.behind_s
        self._ended = False

    def open(self) -> InputContainer:
        return av.open(self, mode="r", options=dict(_CONTAINER_OPTIONS))

    def lag_s(self, played_s: float) -> float:
        return max(0.0, self._received_s + self._behind_s - played_s)

    def ended(self, error: str | None) -> None:
        pass  # a broken segment is the fetcher's to notice: the next run starts with the next segment

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer and not self._ended:
            segment = self._segments.continuation()
            if segment is None:
                self._ended = True  # FFmpeg asks again after an end: it must stay the end
                break
            self._buffer = memoryview(segment.data)
            self._received_s += segment.duration_s
            self._behind_s = segment.behind_s
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count
