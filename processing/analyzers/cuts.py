"""Cuts: hard cuts, fades through black or white and cross-dissolves, decided online a few
frames behind the loop.

The detectors live in `transitions/` (hard.py, fades.py, dissolves.py, over the shared
statistics of history.py); `CutAnalyzer` feeds them each frame and merges what they find into
one list (transitions/cutlist.py). Every cut has a `confidence` (0..1) from how far its tests
were passed. Decisions are final once made and come in frame order, so consumers that lag
behind `decided_index` see scene numbers that never change afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidpulse.processing.analyzers.transitions.cutlist import Cut, CutList
from vidpulse.processing.analyzers.transitions.dissolves import DissolveDetector
from vidpulse.processing.analyzers.transitions.fades import FadeDetector
from vidpulse.processing.analyzers.transitions.hard import HardCutDetector
from vidpulse.processing.analyzers.transitions.history import FrameHistory, Reach
from vidpulse.processing.features import Measured

__all__ = ["Cut", "CutAnalyzer", "CutResult"]


@dataclass(frozen=True)
class CutResult:
    cuts: list[Cut]
    scores: list[float]  # per frame: the difference to the previous frame (0..255)


class CutAnalyzer:
    def __init__(
        self, fps: float, *, threshold: float, ratio: float, fade_threshold: float, black_min_s: float
    ) -> None:
        reach = Reach.at(fps, black_min_s)
        self._lookahead = reach.lookahead
        self._history = FrameHistory(reach)
        self._found = CutList()
        self._hard = HardCutDetector(self._history, self._found, threshold=threshold, ratio=ratio)
        self._fades = FadeDetector(
            self._history, reach, self._found, threshold=threshold, fade_threshold=fade_threshold
        )
        self._dissolves = DissolveDetector(self._history, reach, self._found, threshold=threshold)
        self._decided = -1  # the last position whose hard cut or blank edge is decided
        self._finished = False

    @property
    def cuts(self) -> list[Cut]:
        """The cuts found so far, in frame order (the list grows as frames come)."""
        return self._found.cuts

    @property
    def decided_index(self) -> int:
        """Every cut at or before this frame index is known and final (a fade's span end may
        still grow: it lies after its cut). It may step back a few frames when a dissolve is
        held from the start of its span, which lies before its cut: what was final stays so."""
        decided = self._decided
        if not self._finished:
            for pending in (self._dissolves.pending_from(), self._fades.pending_from()):
                if pending is not None:
                    decided = min(decided, pending - 1)
        return self._history.frame_of(decided)

    def update(self, measured: Measured) -> None:
        # The order of the detectors is the order of their reports: where two see one
        # transition, the first report stands (transitions/cutlist.py).
        newest = self._history.append(measured)
        self._dissolves.step(newest, self._fades.fading_in_from)
        while self._decided < newest - self._lookahead:
            self._decided += 1
            self._decide(self._decided)
        self._fades.follow(newest)
        self._dissolves.release(newest)

    def finish(self) -> None:
        """Decide the last frames, which have no full lookahead."""
        if self._finished:
            return
        last = len(self._history) - 1
        self._dissolves.close(self._fades.fading_in_from)
        while self._decided < last:
            self._decided += 1
            self._decide(self._decided)
        self._fades.close(last + 1)
        self._dissolves.release(last, final=True)
        self._decided = last
        self._finished = True  # nothing is pending any more: decided_index reaches the last frame

    def result(self) -> CutResult:
        self.finish()
        return CutResult(list(self.cuts), list(self._history.difference))

    def _decide(self, position: int) -> None:
        # At a blank span's edge only the fade detector decides; between pictures, the hard one.
        self._fades.decide(position)
        self._hard.decide(position)
