"""Per-frame scalars of a whole run (a few numbers a frame), for frames.csv and the timeline."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from vidpulse.processing.features import Measured


@dataclass
class FrameSeries:
    index: array[int] = field(default_factory=lambda: array("q"))
    time_s: array[float] = field(default_factory=lambda: array("d"))
    motion: array[float] = field(default_factory=lambda: array("d"))
    brightness: array[float] = field(default_factory=lambda: array("d"))
    sharpness: array[float] = field(default_factory=lambda: array("d"))
    difference: array[float] = field(default_factory=lambda: array("d"))

    def append(self, measured: Measured) -> None:
        frame, stats = measured.frame, measured.stats
        self.index.append(frame.index)
        self.time_s.append(frame.time_s)
        self.motion.append(stats.motion)
        self.brightness.append(stats.brightness)
        self.sharpness.append(stats.sharpness)
        self.difference.append(stats.difference)

    def __len__(self) -> int:
        return len(self.index)

    def end_s(self, fps: float) -> float:
        """Exclusive end of the last frame: its time plus one frame duration."""
        return self.time_s[-1] + 1.0 / fps if self.time_s else 0.0
