"""Out of range: luma outside 16-235 or chroma outside 16-240 (ITU-R BT.601/709 video range, 8-bit)
on more than LIMIT of a frame's samples, as the decoder's probe measured them (probe.sample_levels).
"""

from __future__ import annotations

from vidpulse.processing.analyzers.cues.probe import Levels, probed_of
from vidpulse.processing.cues import Cue, CueTrack, Run
from vidpulse.processing.features import Measured

# A frame is out of range when more than this share of its luma, or of its chroma, samples is:
# above the codec's ringing where generated textures meet black (up to 1.5 % below 16 in
# tests/processing/cues/test_ordinary.py's 4:3 clip).
LIMIT = 0.02
MIN_S = 0.2
MERGE_S = 0.2


class LevelsDetector:
    """An Analyzer (analyzers/__init__.py) whose result is the out_of_range cues, from each frame's
    probed levels."""

    def __init__(self, fps: float) -> None:
        self._frame_s = 1.0 / fps
        self._track: CueTrack[Levels] = CueTrack(MIN_S, MERGE_S, Levels.worst)

    def update(self, measured: Measured) -> None:
        probed = probed_of(measured.frame.probed)
        levels = None if probed is None else probed.levels
        if levels is None:
            return
        start = measured.frame.time_s
        flagged = levels.luma_share > LIMIT or levels.chroma_share > LIMIT
        self._track.update(start, start + self._frame_s, flagged, levels)

    def ongoing(self) -> Cue | None:
        """The cue in progress, as far as it goes (a live session's incidents)."""
        run = self._track.ongoing()
        return None if run is None else _cue(run)

    def result(self) -> list[Cue]:
        return [_cue(run) for run in self._track.finish()]


def _cue(run: Run[Levels]) -> Cue:
    worst = run.value
    # 0.5 at the limit, 1 from twice the limit, on a run out on every frame.
    confidence = run.share * min(1.0, max(worst.luma_share, worst.chroma_share) / (2 * LIMIT))
    detail = {"luma_share": round(worst.luma_share, 4), "chroma_share": round(worst.chroma_share, 4),
              "luma_min": worst.luma_min, "luma_max": worst.luma_max,
              "chroma_min": worst.chroma_min, "chroma_max": worst.chroma_max}
    return Cue("out_of_range", run.start_s, run.end_s, confidence, detail)
