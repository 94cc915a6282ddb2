"""Progress reports: one frozen record per call, and the bookkeeping that makes `fraction` overall."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STAGES = ("probe", "analyze", "render", "finalize")


@dataclass(frozen=True, slots=True)
class Progress:
    """`fraction` is across all stages (0..1, never decreasing); `fps` is of the current stage."""

    stage: str
    frame: int
    total_frames: int
    fraction: float
    fps: float
    eta_s: float | None


def no_progress(_: Progress) -> None:
    """The default `on_progress`: ignore reports."""


def no_scene(_: Any) -> None:
    """The default `on_scene`: ignore closed scenes."""


def never_cancelled() -> bool:
    """The default `is_cancelled`."""
    return False


# Reports closer together than this are skipped (never the first of a stage nor the last).
MIN_INTERVAL_S = 0.02
# Share of the overall fraction that each stage covers; the frame loop dominates the work.
_WEIGHTS = {"probe": 0.01, "analyze": 0.93, "render": 0.03, "finalize": 0.03}


class ProgressTracker:
    """Turns per-stage frame counts into `Progress` records with an overall, monotonic fraction."""

    def __init__(self, callback: Callable[[Progress], None], total_frames: int, render: bool) -> None:
        self._callback = callback
        self._total = max(1, total_frames)
        weights = {s: w for s, w in _WEIGHTS.items() if render or s != "render"}
        scale = 1.0 / sum(weights.values())
        self._spans: dict[str, tuple[float, float]] = {}
        start = 0.0
        for stage, weight in weights.items():
            self._spans[stage] = (start, start + weight * scale)
            start += weight * scale
        self._stage = "probe"
        self._stage_started = time.perf_counter()
        self._last_fraction = 0.0
        self._last_report = 0.0

    def start(self, stage: str) -> None:
        self._stage = stage
        self._stage_started = time.perf_counter()
        self._last_report = 0.0

    def update(self, frame: int) -> None:
        """Report `frame` frames done in the current stage.

        At most every MIN_INTERVAL_S except the first report of a stage: callers throttle
        anyway, and a report per frame would cost the loop a few percent.
        """
        now = time.perf_counter()
        if frame > 1 and now - self._last_report < MIN_INTERVAL_S and frame < self._total:
            return
        self._last_report = now
        lo, hi = self._spans[self._stage]
        done = min(frame / self._total, 1.0)
        # The frame count is an estimate for some containers: never step backwards or reach 1 early.
        fraction = max(self._last_fraction, min(lo + (hi - lo) * done, 0.999))
        self._last_fraction = fraction
        elapsed = now - self._stage_started
        fps = frame / elapsed if elapsed > 0 else 0.0
        eta = (self._total - frame) / fps if fps > 0 and frame <= self._total else None
        self._callback(Progress(self._stage, frame, self._total, fraction, fps, eta))

    def set_total(self, total_frames: int) -> None:
        """Replace the estimated frame count with the real one once the frame loop is done."""
        self._total = max(1, total_frames)

    def finish(self) -> None:
        """The last report of every successful run: stage finalize, fraction exactly 1.0."""
        self._stage = "finalize"
        self._last_fraction = 1.0
        self._callback(Progress("finalize", self._total, self._total, 1.0, 0.0, 0.0))
