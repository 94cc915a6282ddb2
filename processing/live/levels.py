"""Levels once a second: the frames' brightness and motion averaged over each second of the timeline,
and the loudness as it stands at the second's end. The seconds are kept too (a few numbers each, not a
row a frame): they are what the report's timeline plots for a stream that may run for a day."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from vidpulse.processing.series import FrameSeries


@dataclass(frozen=True)
class Levels:
    t_s: float  # the second's start on the session's timeline
    brightness: float
    motion: float
    loudness_momentary_lufs: float | None
    loudness_short_term_lufs: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LevelMeter:
    def __init__(self, on_levels: Callable[[Levels], None]) -> None:
        self._on_levels = on_levels
        self._second: int | None = None
        self._first_index = 0
        self._sums = [0.0, 0.0, 0.0]  # brightness, motion, sharpness
        self._count = 0
        self.series = FrameSeries()  # one row a second: its first frame, start, and means
        self.loudness: list[tuple[float, float | None]] = []  # short-term loudness a second

    def add(self, index: int, t_s: float, brightness: float, motion: float, sharpness: float,
            loudness: tuple[float | None, float | None]) -> None:
        """One frame at `t_s`; `loudness`: momentary and short-term as they stand now."""
        second = math.floor(t_s)
        if second != self._second:
            self.flush(loudness)
            self._second, self._first_index = second, index
        for k, value in enumerate((brightness, motion, sharpness)):
            self._sums[k] += value
        self._count += 1

    def flush(self, loudness: tuple[float | None, float | None]) -> None:
        """Announce the second in progress (the timeline moves on, or the stream ends)."""
        if self._second is None or not self._count:
            return
        brightness, motion, sharpness = (total / self._count for total in self._sums)
        levels = Levels(float(self._second), round(brightness, 4), round(motion, 4), *loudness)
        series = self.series
        series.index.append(self._first_index)
        series.time_s.append(levels.t_s)
        series.brightness.append(brightness)
        series.motion.append(motion)
        series.sharpness.append(sharpness)
        series.difference.append(0.0)
        self.loudness.append((levels.t_s, levels.loudness_short_term_lufs))
        self._sums, self._count, self._second = [0.0, 0.0, 0.0], 0, None
        self._on_levels(levels)
