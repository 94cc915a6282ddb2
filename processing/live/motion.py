"""Motion segments of a live stream, with the region that moved in each, kept as they close.

The file pipeline's MotionAnalyzer keeps every frame's score and box to find its segments at the end;
a stream that runs for a day cannot, so here each segment's union box grows while the segment is open
and only closed segments are kept."""

from __future__ import annotations

from typing import Any

from vidpulse.processing.analyzers.motion import Box, MotionSegment
from vidpulse.processing.spans import RunTracker

Corners = tuple[int, int, int, int]  # x0, y0, x1, y1


class LiveMotion:
    def __init__(self, *, threshold: float, min_s: float) -> None:
        self._threshold = threshold
        self._tracker = RunTracker(min_s)
        self._corners: Corners | None = None  # the open segment's moving region so far
        self._regions: list[Corners | None] = []  # one per closed segment
        self._total = 0.0
        self._frames = 0
        self._size = (1, 1)

    def update(self, index: int, t_s: float, motion: float, boxes: list[Box], size: tuple[int, int],
               cut: bool) -> None:
        """A frame whose cut decision is final: the change across a cut is a new picture, not motion,
        so a cut frame scores 0 (and ends a segment)."""
        score = 0.0 if cut else motion
        moving = score >= self._threshold
        closed = len(self._tracker.segments)
        self._tracker.update(index, t_s, moving, score)
        if len(self._tracker.segments) > closed:
            self._regions.append(self._corners)
        self._corners = _grown(self._corners, boxes) if moving else None
        self._total += score
        self._frames += 1
        self._size = size

    def result(self, frame_s: float) -> dict[str, Any]:
        closed = len(self._tracker.segments)
        self._tracker.finish(frame_s)
        if len(self._tracker.segments) > closed:
            self._regions.append(self._corners)
        width, height = self._size
        segments = []
        for segment, corners in zip(self._tracker.segments, self._regions, strict=True):
            x0, y0, x1, y1 = corners or (0, 0, 0, 0)
            segments.append(MotionSegment(segment, (x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height)))
        mean = self._total / self._frames if self._frames else 0.0
        return {"mean": round(mean, 6), "segments": [s.to_dict() for s in segments]}


def _grown(corners: Corners | None, boxes: list[Box]) -> Corners | None:
    for x, y, w, h in boxes:
        if corners is None:
            corners = (x, y, x + w, y + h)
        else:
            corners = (min(corners[0], x), min(corners[1], y), max(corners[2], x + w), max(corners[3], y + h))
    return corners
