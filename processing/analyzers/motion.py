"""Motion: a per-frame score, segments of sustained motion, and boxes around moving regions."""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vidpulse.processing.features import Measured
from vidpulse.processing.spans import RunTracker, Segment

# Regions smaller than this share of the frame are noise, not moving things.
MIN_BOX_AREA = 0.002
MAX_BOXES = 8
# Frames with less of their picture changing get no boxes (nor the cost of finding them).
BOX_MOTION = 0.002
# Frames whose boxes stay available to a consumer that lags behind the loop (the renderer).
RECENT_FRAMES = 32
_KERNEL = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))

Box = tuple[int, int, int, int]  # x, y, width, height in analysis pixels


def moving_boxes(changed: np.ndarray | None) -> list[Box]:
    """Bounding boxes of the connected regions of changed pixels, largest first."""
    if changed is None or not cv2.countNonZero(changed):
        return []
    # Boxes are coarse by nature: find them at half size, where it costs a quarter.
    height, width = changed.shape
    half = cv2.resize(changed, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_NEAREST)
    # Close the gaps inside one moving thing (its flat interior does not change between frames).
    grown = cv2.dilate(half, _KERNEL)
    # Outer contours cost a tenth of connected-component statistics (docs/benchmarks.md).
    contours, _ = cv2.findContours(grown, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    min_area = MIN_BOX_AREA * half.size
    boxes: list[Box] = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        # Judge a region by the pixels that really changed, not by its dilated area: a speck
        # of noise grows to a 5x5 square.
        if w * h >= min_area and cv2.countNonZero(half[y : y + h, x : x + w]) >= min_area:
            boxes.append((2 * x, 2 * y, min(2 * w, width - 2 * x), min(2 * h, height - 2 * y)))
    boxes.sort(key=lambda b: b[2] * b[3], reverse=True)
    return boxes[:MAX_BOXES]


@dataclass(frozen=True)
class MotionSegment:
    segment: Segment
    box: tuple[float, float, float, float]  # union of the moving regions, x, y, w, h in 0..1

    def to_dict(self) -> dict[str, Any]:
        out = self.segment.to_dict(with_peak=True)
        out["box"] = [round(v, 4) for v in self.box]
        return out


@dataclass(frozen=True)
class MotionResult:
    mean: float
    segments: list[MotionSegment]
    scores: list[float]  # per frame, 0 at cut frames

    def to_dict(self) -> dict[str, Any]:
        return {"mean": round(self.mean, 6), "segments": [s.to_dict() for s in self.segments]}


class MotionAnalyzer:
    """Keeps per-frame scalars only (score, time, union box), so memory grows by bytes per frame."""

    def __init__(self, fps: float, *, threshold: float, min_s: float, box_every: int = 1) -> None:
        """`box_every`: find moving boxes on every n-th frame only (the renderer needs every
        frame; a segment's union box does not)."""
        self._frame_s = 1.0 / fps
        self._threshold = threshold
        self._min_s = min_s
        self._scores = array("d")
        self._times = array("d")
        self._unions = array("i")  # x0, y0, x1, y1 per frame
        self._size = (1, 1)
        self._first_index = 0
        self._recent: deque[tuple[int, list[Box]]] = deque(maxlen=RECENT_FRAMES)
        self._box_every = max(1, box_every)

    def update(self, measured: Measured) -> None:
        frame = measured.frame
        if not self._times:
            self._first_index = frame.index
            self._size = (frame.luma.shape[1], frame.luma.shape[0])
        # Boxes only matter where something moves: skip the still frames.
        due = len(self._times) % self._box_every == 0
        moving = due and measured.stats.motion >= min(self._threshold, BOX_MOTION)
        boxes = moving_boxes(measured.changed) if moving else []
        self._recent.append((frame.index, boxes))
        self._scores.append(measured.stats.motion)
        self._times.append(frame.time_s)
        self._unions.extend(_union(boxes))

    def boxes_at(self, index: int) -> list[Box]:
        """Moving boxes of a recent frame (the last RECENT_FRAMES frames are kept)."""
        for seen, boxes in reversed(self._recent):
            if seen == index:
                return boxes
        return []

    def result(self, cut_frames: Collection[int] = ()) -> MotionResult:
        scores = list(self._scores)
        # The change across a cut is a new picture, not motion; a motion segment ends at a cut.
        for index in cut_frames:
            i = index - self._first_index
            if 0 <= i < len(scores):
                scores[i] = 0.0
        tracker = RunTracker(self._min_s)
        for i, score in enumerate(scores):
            tracker.update(self._first_index + i, self._times[i], score >= self._threshold, score)
        segments = [MotionSegment(seg, self._segment_box(seg)) for seg in tracker.finish(self._frame_s)]
        mean = sum(scores) / len(scores) if scores else 0.0
        return MotionResult(mean, segments, scores)

    def _segment_box(self, seg: Segment) -> tuple[float, float, float, float]:
        x0 = y0 = 1 << 30
        x1 = y1 = 0
        for index in range(seg.start_frame, seg.end_frame):
            i = (index - self._first_index) * 4
            if self._unions[i + 2] > self._unions[i]:
                x0, y0 = min(x0, self._unions[i]), min(y0, self._unions[i + 1])
                x1, y1 = max(x1, self._unions[i + 2]), max(y1, self._unions[i + 3])
        if x1 <= x0:
            return (0.0, 0.0, 0.0, 0.0)
        w, h = self._size
        return (x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h)


def _union(boxes: list[Box]) -> tuple[int, int, int, int]:
    if not boxes:
        return (0, 0, 0, 0)
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[0] + b[2] for b in boxes),
        max(b[1] + b[3] for b in boxes),
    )
