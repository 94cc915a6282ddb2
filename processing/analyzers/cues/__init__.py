"""The video's technical cues: detectors fed by the pipeline's one frame loop, each an Analyzer
(analyzers/__init__.py) whose result is a list of cues (processing/cues.py). What they need of
the decoded picture itself, the decoder's probe measures (probe.py)."""

from __future__ import annotations

from collections.abc import Sequence

from vidpulse.processing.analyzers.cues.bars import BarsDetector
from vidpulse.processing.analyzers.cues.interlace import InterlaceDetector
from vidpulse.processing.analyzers.cues.letterbox import LetterboxDetector
from vidpulse.processing.analyzers.cues.levels import LevelsDetector
from vidpulse.processing.analyzers.cues.probe import Prober
from vidpulse.processing.cues import Cue
from vidpulse.processing.features import Measured
from vidpulse.processing.report import Scene


class VideoCues:
    """Every video cue detector, driven as one Analyzer; `prober.probe` goes to the Decoder."""

    def __init__(self, fps: float, prober: Prober, scan: str = "unknown") -> None:
        """`scan`: what the stream says of its scan (interlace.stream_scan)."""
        self.bars = BarsDetector(fps)
        self.interlace = InterlaceDetector(fps, prober, scan)
        self.letterbox = LetterboxDetector()
        self.levels = LevelsDetector(fps)

    def update(self, measured: Measured) -> None:
        self.bars.update(measured)
        self.letterbox.update(measured)
        self.levels.update(measured)
        self.interlace.update(measured)

    def result(self, scenes: Sequence[Scene] = (), display: tuple[int, int] = (0, 0)) -> list[Cue]:
        """The cues; letterbox and pillarbox per scene of `scenes`, in `display` pixels."""
        bars = self.bars.result()
        levels = outside_patterns(self.levels.result(), bars)
        return [*bars, *self.letterbox.result(scenes, display), *levels, *self.interlace.result()]


def outside_patterns(levels: list[Cue], bars: list[Cue]) -> list[Cue]:
    """The out_of_range cues not within colour bars: a test pattern's levels are what the pattern says
    they are (SMPTE's PLUGE is below black on purpose)."""
    return [c for c in levels if not any(_within(c, b) for b in bars)]


def _within(cue: Cue, outer: Cue) -> bool:
    return outer.start_s - 1e-6 <= cue.start_s and cue.end_s <= outer.end_s + 1e-6
