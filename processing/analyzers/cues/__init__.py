"""The video's technical cues: detectors fed by the pipeline's one frame loop, each an Analyzer
(analyzers/__init__.py) whose result is a list of cues (processing/cues.py)."""

from __future__ import annotations

from vidpulse.processing.analyzers.cues.bars import BarsDetector
from vidpulse.processing.cues import Cue
from vidpulse.processing.features import Measured


class VideoCues:
    """Every video cue detector, driven as one Analyzer."""

    def __init__(self, fps: float) -> None:
        self.bars = BarsDetector(fps)

    def update(self, measured: Measured) -> None:
        self.bars.update(measured)

    def result(self) -> list[Cue]:
        return self.bars.result()
