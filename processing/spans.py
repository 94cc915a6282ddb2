"""Segments of consecutive flagged frames, tracked as frames stream past."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Segment:
    """Frames [start_frame, end_frame) and times [start_s, end_s): the end is exclusive."""

    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    peak: float = 0.0

    def to_dict(self, *, with_peak: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"start_s": round(self.start_s, 6), "end_s": round(self.end_s, 6)}
        if with_peak:
            out["peak"] = round(self.peak, 6)
        return out


class RunTracker:
    """Collects runs of flagged frames lasting at least `min_s` seconds.

    A run ends at the first unflagged frame, whose time is the run's exclusive end; a run still
    open at the end of the video ends one frame duration after its last frame.
    """

    def __init__(self, min_s: float) -> None:
        self.min_s = min_s
        self.segments: list[Segment] = []
        self._start: tuple[int, float] | None = None
        self._peak = 0.0
        self._last: tuple[int, float] = (-1, 0.0)

    def update(self, index: int, time_s: float, flagged: bool, value: float = 0.0) -> None:
        if flagged:
            if self._start is None:
                self._start, self._peak = (index, time_s), value
            self._peak = max(self._peak, value)
        elif self._start is not None:
            self._close(index, time_s)
        self._last = (index, time_s)

    @property
    def since_s(self) -> float | None:
        """When the run in progress began (whatever its length so far), or None."""
        return None if self._start is None else self._start[1]

    def finish(self, frame_duration_s: float) -> list[Segment]:
        if self._start is not None:
            index, time_s = self._last
            self._close(index + 1, time_s + frame_duration_s)
        return self.segments

    def _close(self, end_frame: int, end_s: float) -> None:
        assert self._start is not None
        start_frame, start_s = self._start
        # A hair of tolerance: timestamps are rounded to the stream's time base.
        if end_s - start_s >= self.min_s - 1e-6:
            self.segments.append(Segment(start_frame, end_frame, start_s, end_s, self._peak))
        self._start = None
