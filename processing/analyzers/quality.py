"""Quality: black, frozen and blurry segments, and brightness statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vidpulse.processing.features import Measured
from vidpulse.processing.spans import RunTracker, Segment


@dataclass(frozen=True)
class QualityResult:
    black: list[Segment]
    frozen: list[Segment]
    blurry: list[Segment]
    brightness_mean: float
    brightness_min: float
    brightness_max: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "black": [s.to_dict() for s in self.black],
            "frozen": [s.to_dict() for s in self.frozen],
            "blurry": [s.to_dict() for s in self.blurry],
            "brightness": {
                "mean": round(self.brightness_mean, 6),
                "min": round(self.brightness_min, 6),
                "max": round(self.brightness_max, 6),
            },
        }


class QualityAnalyzer:
    """Black frames, frames identical to the previous one, frames without detail.

    Black frames are neither frozen nor blurry: a black gap is reported once, as black.
    """

    def __init__(
        self,
        fps: float,
        *,
        black_min_s: float,
        freeze_threshold: float,
        freeze_min_s: float,
        blur_threshold: float,
        blur_min_s: float,
    ) -> None:
        self._frame_s = 1.0 / fps
        self._freeze_threshold = freeze_threshold
        self._blur_threshold = blur_threshold
        self._black = RunTracker(black_min_s)
        self._frozen = RunTracker(freeze_min_s)
        self._blurry = RunTracker(blur_min_s)
        self._sum = 0.0
        self._count = 0
        self._min = math.inf
        self._max = -math.inf

    def update(self, measured: Measured) -> None:
        stats, frame = measured.stats, measured.frame
        # Both tests: few pixels changed (no small moving thing) and little changed on average
        # (no slow global change such as a dissolve, whose pixels each move by a few levels).
        still = stats.motion < self._freeze_threshold and stats.difference / 255 < self._freeze_threshold
        frozen = measured.changed is not None and not stats.black and still
        blurry = not stats.black and stats.sharpness < self._blur_threshold
        self._black.update(frame.index, frame.time_s, stats.black)
        self._frozen.update(frame.index, frame.time_s, frozen)
        self._blurry.update(frame.index, frame.time_s, blurry)
        self._sum += stats.brightness
        self._count += 1
        self._min = min(self._min, stats.brightness)
        self._max = max(self._max, stats.brightness)

    def ongoing(self) -> tuple[float | None, float | None, float | None]:
        """When the black, frozen and blurry runs in progress began (None: there is none), for a live
        session's incidents."""
        return self._black.since_s, self._frozen.since_s, self._blurry.since_s

    def result(self) -> QualityResult:
        empty = self._count == 0
        return QualityResult(
            black=self._black.finish(self._frame_s),
            frozen=self._frozen.finish(self._frame_s),
            blurry=self._blurry.finish(self._frame_s),
            brightness_mean=0.0 if empty else self._sum / self._count,
            brightness_min=0.0 if empty else self._min,
            brightness_max=0.0 if empty else self._max,
        )
