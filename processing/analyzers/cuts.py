"""Cuts: hard cuts and fades to or from black, decided online a few frames behind the loop.

A hard cut is a frame whose mean luma difference to the previous frame is above
`cut_threshold` and `cut_ratio` times that of its neighbours (two frames either side), the
adaptive test of PySceneDetect's AdaptiveDetector that keeps fast pans and large moving objects
out. The frame after must still differ from the frame before the cut, and the cut frame from
the one two before it: a single-frame flash fails both checks.

A fade is the gradual edge of a black span: the picture darkens into black (the cut is the
first black frame) or comes out of it (the cut is the first frame with a picture again). A
black span shorter than DIP_FRAMES is a dip: one cut at its end, if the pictures either side
differ. Decisions are final once made, so consumers that lag LOOKAHEAD frames behind see
scene numbers that never change afterwards.
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from processing.features import Measured

# Frames after a candidate that a decision needs to see.
LOOKAHEAD = 3
# Black spans shorter than this are dips (one cut) rather than a scene of their own (two cuts).
DIP_FRAMES = 3
# How far back a fade into black looks for the picture it leaves.
FADE_LOOKBACK_S = 2.0
# Frames whose luma the decisions compare (candidate - DIP_FRAMES - 1 .. candidate + LOOKAHEAD).
_RING = LOOKAHEAD + DIP_FRAMES + 3


@dataclass(frozen=True, slots=True)
class Cut:
    """`frame` is the first frame of the new scene. `score`: for a hard cut the mean luma
    difference (0..255) across it; for a fade the brightness (x255) of the picture it leaves
    or reaches."""

    frame: int
    time_s: float
    kind: str  # "hard" or "fade"
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "time_s": round(self.time_s, 6), "kind": self.kind, "score": round(self.score, 3)}


@dataclass(frozen=True)
class CutResult:
    cuts: list[Cut]
    scores: list[float]  # per frame: the difference to the previous frame (0..255)


class CutAnalyzer:
    def __init__(self, fps: float, *, threshold: float, ratio: float, fade_threshold: float) -> None:
        self._threshold = threshold
        self._ratio = ratio
        self._fade_threshold = fade_threshold
        self._lookback = max(1, round(FADE_LOOKBACK_S * fps))
        self._first_index = 0
        self._diff = array("d")
        self._bright = array("d")
        self._times = array("d")
        self._black = bytearray()
        self._black_start = -1  # position where the current black run began
        self._run_starts: dict[int, int] = {}  # end position of each black run -> its start
        self._into: set[int] = set()  # positions of emitted cuts into black
        self._lumas: deque[tuple[int, np.ndarray]] = deque(maxlen=_RING)
        self._decided = -1
        self.cuts: list[Cut] = []

    @property
    def decided_index(self) -> int:
        """Every cut at or before this frame index is known and final."""
        return self._first_index + self._decided

    def update(self, measured: Measured) -> None:
        frame, stats = measured.frame, measured.stats
        if not self._times:
            self._first_index = frame.index
        pos = len(self._times)
        self._diff.append(stats.difference)
        self._bright.append(stats.brightness)
        self._times.append(frame.time_s)
        self._black.append(stats.black)
        self._lumas.append((pos, frame.luma))
        if stats.black and (pos == 0 or not self._black[pos - 1]):
            self._black_start = pos
        elif not stats.black and pos > 0 and self._black[pos - 1]:
            self._run_starts[pos] = self._black_start
        while self._decided < pos - LOOKAHEAD:
            self._decided += 1
            self._decide(self._decided)

    def finish(self) -> None:
        """Decide the last frames, which have no full lookahead."""
        while self._decided < len(self._times) - 1:
            self._decided += 1
            self._decide(self._decided)

    def result(self) -> CutResult:
        self.finish()
        return CutResult(list(self.cuts), list(self._diff))

    def _decide(self, c: int) -> None:
        if c == 0:
            return
        before, here = self._black[c - 1], self._black[c]
        if here and not before:
            self._into_black(c)
        elif before and not here:
            self._out_of_black(c)
        elif not here:
            self._hard(c)

    def _into_black(self, c: int) -> None:
        run = 0
        while c + run < len(self._black) and self._black[c + run] and run < DIP_FRAMES:
            run += 1
        at_end = c + run == len(self._black)
        if run < DIP_FRAMES and not at_end:
            return  # a dip: decided at its end
        leaving = max(self._bright[max(0, c - self._lookback) : c])
        if self._diff[c] >= self._threshold or leaving >= self._fade_threshold:
            self._into.add(c)
            self._emit(c, leaving * 255)

    def _out_of_black(self, c: int) -> None:
        start = self._run_starts.get(c, 0)
        reached = self._bright[min(c + LOOKAHEAD, len(self._bright) - 1)] * 255
        if c - start >= DIP_FRAMES or start == 0:
            # A picture after a black scene; the start of a video that opens black counts too.
            if start == 0 or start in self._into:
                self._emit(c, reached)
            return
        leaving = max(self._bright[max(0, start - self._lookback) : start])
        if leaving >= self._fade_threshold and self._differs(c, start - 1, 0.5 * self._threshold):
            self._emit(c, reached)

    def _hard(self, c: int) -> None:
        d = self._diff[c]
        if d < self._threshold:
            return
        last = len(self._diff) - 1
        neighbours = [self._diff[k] for k in (c - 2, c - 1, c + 1, c + 2) if 1 <= k <= last]
        if neighbours and d < self._ratio * (sum(neighbours) / len(neighbours)):
            return
        # Flash checks: the picture after must differ from before the cut, and vice versa.
        later = [k for k in (c + 1, c + 2) if k <= last]
        if any(not self._differs(k, c - 1, 0.5 * d) for k in later):
            return
        if c >= 2 and not self._differs(c, c - 2, 0.5 * d):
            return
        self._emit(c, d)

    def _emit(self, c: int, fade_score: float) -> None:
        d = self._diff[c]
        hard = d >= self._threshold
        score = d if hard else fade_score
        self.cuts.append(Cut(self._first_index + c, self._times[c], "hard" if hard else "fade", score))

    def _differs(self, a: int, b: int, level: float) -> bool:
        la, lb = self._luma(a), self._luma(b)
        if la is None or lb is None:
            return True
        return float(cv2.mean(cv2.absdiff(la, lb))[0]) >= level

    def _luma(self, pos: int) -> np.ndarray | None:
        for seen, luma in self._lumas:
            if seen == pos:
                return luma
        return None
