"""The session's timeline: every run's timestamps mapped onto one clock that starts at 0 with the first
frame and moves on across runs, gaps and lost stretches (by the media missed, or the time lost)."""

from __future__ import annotations

# A step between two frames larger than this (or one backwards) is a discontinuity nobody announced,
# or a timestamp wrap: the run is anchored again where it was.
MAX_STEP_S = 5.0


class RunClock:
    """One run's timestamps on the timeline: `base_s + (pts_s - origin_s)`."""

    def __init__(self, base_s: float, origin_s: float, frame_s: float) -> None:
        self.base_s = base_s
        self.origin_s = origin_s
        self.frame_s = frame_s
        self.start_s = base_s
        self._last: float | None = None

    @property
    def offset_s(self) -> float:
        """What to subtract from a stream time of this run to get a timeline time."""
        return self.origin_s - self.base_s

    def at(self, pts_s: float | None) -> float:
        last = self._last
        if pts_s is None:
            t = self.start_s if last is None else last + self.frame_s
        else:
            t = self.base_s + pts_s - self.origin_s
            if last is not None and not last - self.frame_s / 2 < t <= last + MAX_STEP_S:
                self.base_s, self.origin_s = last + self.frame_s, pts_s
                t = self.base_s
        self._last = t
        return t

    def played_s(self, t: float) -> float:
        """How far into this run `t` is."""
        return t - self.start_s
