"""Cuts: hard cuts, fades to or from black and cross-dissolves, decided online a few frames
behind the loop.

Hard cut: a frame whose mean luma difference to the previous frame is above `cut_threshold`
and `cut_ratio` times that of its neighbours (two frames either side), the adaptive test of
PySceneDetect's AdaptiveDetector that keeps fast pans and large moving objects out. A flash
(the old picture back within FLASH_FRAMES) is no cut: the frames after the candidate must
still differ from the one before it, and the candidate from the few before that.

Fade: the gradual edge of a black span: the picture darkens into black (the cut is the first
black frame) or comes out of it (the first frame with a picture). A black span at least
`black_min_s` long is a scene of its own (two cuts); a shorter one is a dip (one cut at its
end, if the pictures either side differ).

Dissolve: over a window of W frames the end pictures differ, yet the middle one is their
average, and the end is not a brightness-scaled copy of the start (that is a fade, above).
The cut goes to the middle of the run of such windows. Reported with kind "fade" (the report's
kinds are hard and fade).

Decisions are final once made and come in frame order, so consumers that lag behind
`decided_index` see scene numbers that never change afterwards.
"""

from __future__ import annotations

import bisect
from array import array
from collections import deque
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vidpulse.processing.features import Measured

# A flash is a picture that lasts at most this many frames before the old one is back.
FLASH_FRAMES = 3
# A cut next to fast motion must still exceed the moving side's difference by this factor.
BUSY_SIDE_RATIO = 1.5
# How far back a fade into black looks for the picture it leaves.
FADE_LOOKBACK_S = 2.0
# Dissolve window lengths in seconds (clamped to a frame range). A window sees a dissolve that
# lasts up to about twice its length; the short one keeps the lag small for short dissolves.
DISSOLVE_WINDOWS_S = (0.4, 1.0)
DISSOLVE_FRAMES = (6, 40)
# Share of `cut_threshold` that the ends of a dissolve window must differ by.
DISSOLVE_SPAN = 0.5
# A dissolve window's middle is within this share of its span from the ends' average.
DISSOLVE_LINEARITY = 0.2
# The middle of a dissolve window has at most this share of its ends' contrast.
DISSOLVE_CONTRAST_DIP = 0.92
# A window whose end is a brightness-scaled start within this share of the span is a fade.
FADE_GAIN_RESIDUAL = 0.35


@dataclass(frozen=True, slots=True)
class Cut:
    """`frame` is the first frame of the new scene. `score`: for a hard cut the mean luma
    difference (0..255) across it; for a fade the brightness (x255) of the picture it leaves
    or reaches; for a dissolve the mean luma difference between its ends."""

    frame: int
    time_s: float
    kind: str  # "hard" or "fade"
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "time_s": round(self.time_s, 6),
            "kind": self.kind,
            "score": round(self.score, 3),
        }


@dataclass(frozen=True)
class CutResult:
    cuts: list[Cut]
    scores: list[float]  # per frame: the difference to the previous frame (0..255)


class CutAnalyzer:
    def __init__(
        self, fps: float, *, threshold: float, ratio: float, fade_threshold: float, black_min_s: float
    ) -> None:
        self._threshold = threshold
        self._ratio = ratio
        self._fade_threshold = fade_threshold
        self._lookback = max(1, round(FADE_LOOKBACK_S * fps))
        self._dip = min(30, max(FLASH_FRAMES, round(black_min_s * fps)))
        self._lookahead = max(FLASH_FRAMES, self._dip)
        lo, hi = DISSOLVE_FRAMES
        windows = [min(hi, max(lo, round(seconds * fps))) // 2 * 2 for seconds in DISSOLVE_WINDOWS_S]
        self._dissolves = [_DissolveRun(window) for window in windows]
        self._finished = False
        self._first_index = 0
        self._diff = array("d")
        self._bright = array("d")
        self._times = array("d")
        self._black = bytearray()
        self._black_start = -1  # position where the current black run began
        self._run_starts: dict[int, int] = {}  # end position of each black run -> its start
        self._into: set[int] = set()  # positions of emitted cuts into black
        ring = self._lookahead + self._dip + FLASH_FRAMES + max(windows) + 4
        self._tiny: deque[tuple[int, np.ndarray]] = deque(maxlen=ring)
        self._decided = -1
        self.cuts: list[Cut] = []

    @property
    def decided_index(self) -> int:
        """Every cut at or before this frame index is known and final."""
        pos = self._decided
        if not self._finished:
            for run in self._dissolves:
                pending = run.start if run.start is not None else len(self._times) - run.window // 2
                pos = min(pos, pending - 1)
        return self._first_index + pos

    def update(self, measured: Measured) -> None:
        frame, stats = measured.frame, measured.stats
        if not self._times:
            self._first_index = frame.index
        pos = len(self._times)
        self._diff.append(stats.difference)
        self._bright.append(stats.brightness)
        self._times.append(frame.time_s)
        self._black.append(stats.black)
        # Pictures are compared at a quarter of the analysis size: cheaper and steadier.
        h, w = measured.half.shape
        tiny = cv2.resize(measured.half, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
        self._tiny.append((pos, tiny))
        if stats.black and (pos == 0 or not self._black[pos - 1]):
            self._black_start = pos
        elif not stats.black and pos > 0 and self._black[pos - 1]:
            self._run_starts[pos] = self._black_start
        for run in self._dissolves:
            self._dissolve_step(run, pos - run.window // 2)
        while self._decided < pos - self._lookahead:
            self._decided += 1
            self._decide(self._decided)

    def finish(self) -> None:
        """Decide the last frames, which have no full lookahead."""
        for run in self._dissolves:
            self._dissolve_close(run)
        while self._decided < len(self._times) - 1:
            self._decided += 1
            self._decide(self._decided)
        self._decided = len(self._times) - 1
        self._finished = True  # nothing is pending any more: decided_index reaches the last frame

    def result(self) -> CutResult:
        self.finish()
        return CutResult(list(self.cuts), list(self._diff))

    # Hard cuts and black edges -------------------------------------------------------------

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
        while c + run < len(self._black) and self._black[c + run] and run < self._dip:
            run += 1
        if run < self._dip and c + run < len(self._black):
            return  # a dip: decided at its end
        leaving = max(self._bright[max(0, c - self._lookback) : c])
        if self._diff[c] >= self._threshold or leaving >= self._fade_threshold:
            self._into.add(c)
            self._emit(c, leaving * 255)

    def _out_of_black(self, c: int) -> None:
        start = self._run_starts.get(c, 0)
        reached = self._bright[min(c + self._lookahead, len(self._bright) - 1)] * 255
        if c - start >= self._dip or start == 0:
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
        if not self._stands_out(c, last):
            return
        # Flash checks: the old picture must not come back, nor this one be a return to it.
        level = 0.5 * d
        if any(not self._differs(c + k, c - 1, level) for k in range(1, FLASH_FRAMES + 1) if c + k <= last):
            return
        if any(not self._differs(c, c - k, level) for k in range(2, FLASH_FRAMES + 2) if c - k >= 0):
            return
        self._emit(c, d)

    def _stands_out(self, c: int, last: int) -> bool:
        """The difference at c is `ratio` times its neighbours', or, on a cut into or out of
        fast motion, `ratio` times the calm side's and clearly above the busy side's."""
        d = self._diff[c]
        before = [self._diff[k] for k in (c - 2, c - 1) if k >= 1]
        after = [self._diff[k] for k in (c + 1, c + 2) if k <= last]
        both = before + after
        if not both or d >= self._ratio * sum(both) / len(both):
            return True
        if not before or not after:
            return False
        sides = sorted((sum(before) / len(before), sum(after) / len(after)))
        return d >= self._ratio * sides[0] and d >= BUSY_SIDE_RATIO * sides[1]

    def _emit(self, c: int, fade_score: float) -> None:
        d = self._diff[c]
        hard = d >= self._threshold
        self._add(Cut(self._first_index + c, self._times[c], "hard" if hard else "fade", d if hard else fade_score))

    def _add(self, cut: Cut, gap: int = 2) -> None:
        frames = [c.frame for c in self.cuts]
        at = bisect.bisect(frames, cut.frame)
        # Two detectors may see one transition: keep the first report of it.
        if (at and cut.frame - frames[at - 1] <= gap) or (at < len(frames) and frames[at] - cut.frame <= gap):
            return
        self.cuts.insert(at, cut)

    # Dissolves -----------------------------------------------------------------------------

    def _dissolve_step(self, run: _DissolveRun, m: int) -> None:
        """Judge the window centred on position m (its end is the newest frame)."""
        half = run.window // 2
        if m - half < 0:
            return
        span = self._dissolve_span(m - half, m, m + half)
        if span is None:
            if run.start is not None:
                self._dissolve_close(run)
            run.blocked = False
            return
        if run.blocked:
            return
        if run.start is None:
            run.start = m
        run.end, run.best = m, max(run.best, span)
        if run.end - run.start + 1 >= run.window:
            # A long dissolve: report it once, in the middle of what has been seen.
            self._dissolve_close(run)
            run.blocked = True

    def _dissolve_close(self, run: _DissolveRun) -> None:
        if run.start is not None:
            middle = (run.start + run.end + 1) // 2
            cut = Cut(self._first_index + middle, self._times[middle], "fade", run.best)
            # Both windows may see one dissolve: the first report of it stands.
            self._add(cut, gap=run.window // 2)
        run.start, run.end, run.best = None, -1, 0.0

    def _dissolve_span(self, s: int, m: int, e: int) -> float | None:
        """The ends' difference when [s, e] looks like a dissolve, else None."""
        if any(self._black[k] for k in (s, m, e)):
            return None
        first, middle, last = self._tiny_at(s), self._tiny_at(m), self._tiny_at(e)
        if first is None or middle is None or last is None:
            return None
        span = _mean_abs(first, last)
        # A window sees only part of a long dissolve, so its ends differ less than across a cut.
        if span < DISSOLVE_SPAN * self._threshold:
            return None
        average = cv2.addWeighted(first, 0.5, last, 0.5, 0)
        if _mean_abs(middle, average) > DISSOLVE_LINEARITY * span:
            return None
        # Smooth pictures moving slowly also look linear; but only a mix of two different
        # pictures loses contrast in the middle.
        if _contrast(middle) > DISSOLVE_CONTRAST_DIP * 0.5 * (_contrast(first) + _contrast(last)):
            return None
        # The end a brightness-scaled start: a fade (or a light change), not a new picture.
        a, b = first.astype(np.float32), last.astype(np.float32)
        gain = float((a * b).sum() / max(1.0, float((a * a).sum())))
        if float(np.abs(b - gain * a).mean()) < FADE_GAIN_RESIDUAL * span:
            return None
        return span

    # Pictures ------------------------------------------------------------------------------

    def _differs(self, a: int, b: int, level: float) -> bool:
        ta, tb = self._tiny_at(a), self._tiny_at(b)
        if ta is None or tb is None:
            return True
        return _mean_abs(ta, tb) >= level

    def _tiny_at(self, pos: int) -> np.ndarray | None:
        oldest = self._tiny[0][0] if self._tiny else 0
        i = pos - oldest
        return self._tiny[i][1] if 0 <= i < len(self._tiny) else None


@dataclass
class _DissolveRun:
    """The run of dissolve-like windows of one length seen so far."""

    window: int
    start: int | None = None
    end: int = -1
    best: float = 0.0
    blocked: bool = False  # a long dissolve was reported: wait for it to end


def _contrast(a: np.ndarray) -> float:
    _, deviation = cv2.meanStdDev(a)
    return float(deviation[0, 0])


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.mean(cv2.absdiff(a, b))[0])
