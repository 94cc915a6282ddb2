"""Cuts: hard cuts, fades through black or white and cross-dissolves, decided online a few
frames behind the loop.

Hard cut: a frame whose mean luma difference to the previous frame is above `cut_threshold`
and `cut_ratio` times that of its neighbours (two frames either side), the adaptive test of
PySceneDetect's AdaptiveDetector that keeps fast pans and large moving objects out. A flash
(the old picture back within FLASH_FRAMES) is no cut: the frames after the candidate must
still differ from the one before it, and the candidate from the few before that.

Fade: a blank span (black or white frames) with a gradual edge. A fade-out, the blank gap and
a fade-in are ONE transition (kind "fade"), with its span from the first darkening frame to the
last brightening one; its cut (the new scene's first frame) is where the picture comes out of
the blank. The opening fade-in and the closing fade-out of a video are no transitions. A blank
span entered by a hard cut and at least `black_min_s` long is a scene of its own, as before
(two cuts; leaving it by a fade-in is a fade spanning the fade-in); a shorter one is a dip (one
cut at its end, if the pictures either side differ). White is a blank only between pictures: a
picture fading from black up to white and back is a white picture, not a fade through white.

Dissolve: over a window of W frames the end pictures differ, yet the middle one is their mix
(blurred slightly, so a moving camera does not hide it), has lost contrast as a mix of two
pictures does, and the ends are not one picture with its light changed (correlation: that is a
fade, and a dark or sparse side still passes, where the old gain test took it for a fade).
Runs of such windows make one dissolve; its span and middle come from projecting each picture
on the line between the run's end pictures. A dissolve is held until the light settles, since
the start of a fade-out looks like a dissolve to a dark picture until the blank arrives.

Every cut has a `confidence` (0..1) from how far its tests were passed. Decisions are final
once made and come in frame order, so consumers that lag behind `decided_index` see scene
numbers that never change afterwards.
"""

from __future__ import annotations

import bisect
from array import array
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from vidpulse.processing.features import Measured

# A flash is a picture that lasts at most this many frames before the old one is back.
FLASH_FRAMES = 3
# A cut next to fast motion must still exceed the moving side's difference by this factor.
BUSY_SIDE_RATIO = 1.5
# How far a fade reaches either side of its blank span: the longest fade looked for.
FADE_LOOKBACK_S = 3.0
# A fade goes on while the picture's level (0..1) moves by this much over FADE_STEP_S.
FADE_STEP = 0.01
FADE_STEP_S = 0.2
# A fade has settled within this much (or this share) of the picture's full level.
FADE_SETTLED = 0.01
FADE_SETTLED_SHARE = 0.03
# Dissolve window lengths in seconds (clamped to a frame range). Runs of windows that look like
# a dissolve make one dissolve, up to DISSOLVE_MAX_S long.
DISSOLVE_WINDOWS_S = (0.4, 1.0)
DISSOLVE_FRAMES = (6, 40)
DISSOLVE_MAX_S = 3.0
# Share of `cut_threshold` that the ends of a dissolve window must differ by.
DISSOLVE_SPAN = 0.5
# A dissolve window's middle is within this share of its span from the ends' average.
DISSOLVE_LINEARITY = 0.25
# The middle of a dissolve window has at most this share of its ends' mean variance (a mix of
# two unrelated pictures has half).
DISSOLVE_CONTRAST_DIP = 0.88
# Ends correlated above this are one picture with its light changed: a fade, not a dissolve.
FADE_CORRELATION = 0.8
# Variance per pixel under which a picture is flat (its correlation is meaningless).
FLAT_VARIANCE = 4.0
# A dissolve's span: from the first frame with this share of the new picture to the last with
# this share of the old one left.
MIX_EDGE = 0.05
# Dissolve windows compare pictures blurred by this (pixels at a quarter of the analysis size),
# so that a camera's motion during the dissolve does not hide it.
DISSOLVE_BLUR = 1.5
TINY_MAX_WIDTH = 160
# A dissolve passes the tests in at least this many consecutive windows.
DISSOLVE_MIN_RUN = 3
# ... and in one of them at least, its middle is this well (0..1) its ends' mix.
DISSOLVE_MIN_FIT = 0.2


@dataclass(frozen=True, slots=True)
class Cut:
    """`frame` is the first frame of the new scene. `score`: for a hard cut the mean luma
    difference (0..255) across it; for a fade the brightness (x255) of the picture it leaves
    or reaches (its distance from white, through white); for a dissolve the mean luma
    difference between its ends. `confidence` (0..1) says how clearly the tests were passed.
    A gradual transition (kind fade or dissolve) also has its span, frames and times
    inclusive of the first and last frame that is part of it."""

    frame: int
    time_s: float
    kind: str  # "hard", "fade" or "dissolve"
    score: float
    confidence: float
    span: tuple[int, int, float, float] | None = None  # start_frame, end_frame, start_s, end_s

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "frame": self.frame,
            "time_s": round(self.time_s, 6),
            "kind": self.kind,
            "score": round(self.score, 3),
            "confidence": round(self.confidence, 3),
        }
        if self.span is not None:
            start_frame, end_frame, start_s, end_s = self.span
            out.update(start_frame=start_frame, end_frame=end_frame, start_s=round(start_s, 6), end_s=round(end_s, 6))
        return out


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
        self._step = max(2, round(FADE_STEP_S * fps))
        lo, hi = DISSOLVE_FRAMES
        windows = [min(hi, max(lo, round(seconds * fps))) // 2 * 2 for seconds in DISSOLVE_WINDOWS_S]
        self._longest = max(windows[-1], round(DISSOLVE_MAX_S * fps))
        self._dissolves = [_DissolveRun(window) for window in windows]
        self._finished = False
        self._first_index = 0
        self._diff = array("d")
        self._bright = array("d")
        self._times = array("d")
        self._blank = bytearray()  # per position: 0, or BLACK or WHITE
        self._blank_start = -1  # position where the current blank run began
        self._run_starts: dict[int, int] = {}  # end position of each blank run -> its start
        self._into: set[int] = set()  # positions of hard cuts into a blank scene
        self._fade_in: tuple[int, int] | None = None  # (cut frame, blank kind) whose span end is open
        self._unsure_in = False  # the open fade-in is not reported yet: judged by the level it reaches
        # Long enough for the span of the longest dissolve and the window around it.
        ring = self._lookahead + self._dip + FLASH_FRAMES + self._longest + self._lookback + 2 * max(windows) + 4
        self._tiny: deque[tuple[int, np.ndarray]] = deque(maxlen=ring)
        self._soft: deque[np.ndarray] = deque(maxlen=ring)  # the same pictures blurred
        # Dissolves waiting to be told from the start of a fade: added once the light settles.
        self._held: list[tuple[int, int, Cut]] = []  # (first position looked at, window, cut)
        self._decided = -1
        self.cuts: list[Cut] = []

    @property
    def decided_index(self) -> int:
        """Every cut at or before this frame index is known and final (a fade's span end may
        still grow: it lies after its cut)."""
        pos = self._decided
        if not self._finished:
            for run in self._dissolves:
                pending = run.start if run.start is not None else len(self._times) - run.window // 2
                pos = min(pos, pending - 1)
            for first, _, _ in self._held:
                pos = min(pos, first - 1)
            if self._unsure_in and self._fade_in is not None:
                pos = min(pos, self._fade_in[0] - self._first_index - 1)
        return self._first_index + pos

    def update(self, measured: Measured) -> None:
        frame, stats = measured.frame, measured.stats
        if not self._times:
            self._first_index = frame.index
        pos = len(self._times)
        self._diff.append(stats.difference)
        self._bright.append(stats.brightness)
        self._times.append(frame.time_s)
        blank = BLACK if stats.black else WHITE if stats.white else 0
        self._blank.append(blank)
        # Pictures are compared at a quarter of the analysis size (at most TINY_MAX_WIDTH):
        # cheaper and steadier.
        h, w = measured.half.shape
        tw = max(1, min(w // 2, TINY_MAX_WIDTH))
        tiny = cv2.resize(measured.half, (tw, max(1, round(h * tw / w))), interpolation=cv2.INTER_AREA)
        self._tiny.append((pos, tiny))
        self._soft.append(cv2.GaussianBlur(tiny, (0, 0), DISSOLVE_BLUR))
        previous = self._blank[pos - 1] if pos else 0
        if previous and previous != blank:
            self._run_starts[pos] = self._blank_start
        if blank and blank != previous:
            self._blank_start = pos
        for run in self._dissolves:
            self._dissolve_step(run, pos - run.window // 2)
        while self._decided < pos - self._lookahead:
            self._decided += 1
            self._decide(self._decided)
        self._follow_fade_in(pos)
        self._release_held(pos)

    def finish(self) -> None:
        """Decide the last frames, which have no full lookahead."""
        if self._finished:
            return
        for run in self._dissolves:
            self._dissolve_close(run)
        while self._decided < len(self._times) - 1:
            self._decided += 1
            self._decide(self._decided)
        self._close_fade_in(len(self._times))
        self._release_held(len(self._times) - 1, final=True)
        self._decided = len(self._times) - 1
        self._finished = True  # nothing is pending any more: decided_index reaches the last frame

    def result(self) -> CutResult:
        self.finish()
        return CutResult(list(self.cuts), list(self._diff))

    # Hard cuts and blank edges -------------------------------------------------------------

    def _decide(self, c: int) -> None:
        if c == 0:
            return
        before, here = self._blank[c - 1], self._blank[c]
        if before and before != here:
            self._out_of_blank(c)
        if here and here != before:
            self._into_blank(c)
        elif not here and not before:
            self._hard(c)

    def _into_blank(self, c: int) -> None:
        """Only a hard cut into a blank span is decided here; a fade into one is decided where
        the span ends, as one transition with what follows (or none, at the end of the video)."""
        if self._diff[c] < self._threshold:
            return
        run = 0
        while c + run < len(self._blank) and self._blank[c + run] == self._blank[c] and run < self._dip:
            run += 1
        if run < self._dip and c + run < len(self._blank):
            return  # a dip: decided at its end
        self._into.add(c)
        self._add_hard(c)

    def _out_of_blank(self, c: int) -> None:
        start = self._run_starts.get(c, 0)
        blank = self._blank[c - 1]
        d = self._diff[c]
        hard_out = d >= self._threshold
        if start == 0:
            # The video opens blank: a fade-in is no transition; a picture cutting in is a cut,
            # as out of any blank scene.
            if hard_out and c >= self._dip:
                self._add_hard(c)
            return
        reached = self._level(min(c + self._lookahead, len(self._bright) - 1), blank)
        if start in self._into:
            # A blank scene of its own, entered by a hard cut: leaving it is a cut of its own.
            if hard_out:
                self._add_hard(c)
            elif reached >= self._fade_threshold:
                self._add_fade(c, c, blank, reached)
            else:
                # A slow fade-in is still dark `lookahead` frames on: judged once it ends.
                self._fade_in, self._unsure_in = (self._pos_frame(c), blank), True
            return
        leaving = max(self._level(k, blank) for k in range(max(0, start - self._lookback), start))
        hard_in = self._diff[start] >= self._threshold
        first = start if hard_in else self._fade_out_start(start, blank)
        if blank == WHITE and BLACK in self._blank[max(0, first - 1) : start]:
            # From black to white: the white is a picture (faded in from black), not a blank
            # passed through; a white blank is one between pictures.
            return
        # A dip or flash with the same picture either side is no cut: compared next to its hard
        # edges (a moving picture changes little there), past its fades (where both are dark).
        after = c if hard_out else min(c + self._lookahead, len(self._blank) - 1)
        before = max(0, (start if hard_in else first) - 1)
        if c - start < self._dip and not self._differs(after, before, 0.5 * self._threshold):
            return
        if max(leaving, reached) < self._fade_threshold:
            return
        if hard_out and hard_in and c - start < self._dip:
            self._add_hard(c)
            return
        self._add_fade(first, c, blank, max(leaving, reached))

    def _add_hard(self, c: int, over_neighbours: float = 2.0) -> None:
        d = self._diff[c]
        confidence = _hard_confidence(d / self._threshold, over_neighbours)
        self._add(Cut(self._pos_frame(c), self._times[c], "hard", d, confidence))

    def _add_fade(self, first: int, c: int, blank: int, level: float) -> None:
        """A transition through a blank span whose cut is at c; its end is found as the picture
        settles (`_follow_fade_in`)."""
        self._add(self._fade_cut(first, c, level))
        self._fade_in, self._unsure_in = (self._pos_frame(c), blank), False

    def _fade_cut(self, first: int, c: int, level: float) -> Cut:
        confidence = 0.6 + 0.4 * _squash(level / max(self._fade_threshold, 1e-6))
        span = (self._pos_frame(first), self._pos_frame(c), self._times[first], self._times[c])
        return Cut(self._pos_frame(c), self._times[c], "fade", level * 255, confidence, span)

    def _fade_out_start(self, start: int, blank: int) -> int:
        """The first frame of the fade that ends at the blank span starting at `start`."""
        k = start - 1
        low = max(0, start - self._lookback)
        while k - 1 >= low and self._diff[k] < self._threshold:
            back = max(low, k - self._step)
            if self._level(back, blank) - self._level(k, blank) < FADE_STEP:
                break  # the picture's level has settled: the fade begins about here
            k -= 1
        full = max(self._level(j, blank) for j in range(k, start)) if k < start else 0.0
        near = full - max(FADE_SETTLED, FADE_SETTLED_SHARE * full)
        j = start - 1
        while j >= k and self._level(j, blank) < near:
            j -= 1
        return min(start, j + 1)

    def _follow_fade_in(self, pos: int) -> None:
        """Grow the open fade-in until the picture stops changing level, a cut or a blank comes."""
        if self._fade_in is None:
            return
        c = self._fade_in[0] - self._first_index
        if c >= pos:
            return
        blank = self._fade_in[1]
        if pos - c < self._step:
            return
        if self._blank[pos] or self._diff[pos] >= self._threshold:
            self._close_fade_in(pos)  # a cut or a blank: the fade-in ended on the frame before
            return
        rising = self._level(pos, blank) - self._level(pos - self._step, blank) >= FADE_STEP
        if pos - c > self._lookback or not rising:
            self._close_fade_in(pos + 1)

    def _close_fade_in(self, end: int) -> None:
        """The fade-in that began at the open cut ends before position `end`."""
        if self._fade_in is None:
            return
        frame, blank = self._fade_in
        unsure = self._unsure_in
        self._fade_in, self._unsure_in = None, False
        c = frame - self._first_index
        if end <= c:
            return
        full = max(self._level(j, blank) for j in range(c, end))
        if unsure:
            if full < self._fade_threshold:
                return  # the blank scene only brightened a little
            self._add(self._fade_cut(c, c, full))
        near = full - max(FADE_SETTLED, FADE_SETTLED_SHARE * full)
        last = next((j for j in range(c, end) if self._level(j, blank) >= near), end - 1)
        at = bisect.bisect_left([cut.frame for cut in self.cuts], frame)
        if at < len(self.cuts) and self.cuts[at].frame == frame and self.cuts[at].span is not None:
            cut = self.cuts[at]
            first_frame, _, first_s, _ = cut.span  # type: ignore[misc]
            self.cuts[at] = replace(cut, span=(first_frame, self._pos_frame(last), first_s, self._times[last]))

    def _level(self, pos: int, blank: int) -> float:
        """How far the picture at `pos` is from the blank it fades to or from (0..1)."""
        bright = self._bright[pos]
        return 1.0 - bright if blank == WHITE else bright

    def _hard(self, c: int) -> None:
        d = self._diff[c]
        if d < self._threshold:
            return
        last = len(self._diff) - 1
        stand = self._stands_out(c, last)
        if stand is None:
            return
        # Flash checks: the old picture must not come back, nor this one be a return to it.
        level = 0.5 * d
        if any(not self._differs(c + k, c - 1, level) for k in range(1, FLASH_FRAMES + 1) if c + k <= last):
            return
        if any(not self._differs(c, c - k, level) for k in range(2, FLASH_FRAMES + 2) if c - k >= 0):
            return
        self._add_hard(c, stand)

    def _stands_out(self, c: int, last: int) -> float | None:
        """How many times `ratio` the difference at c is over its neighbours' (None: not a cut):
        `ratio` times their mean, or, on a cut into or out of fast motion, `ratio` times the calm
        side's and clearly above the busy side's."""
        d = self._diff[c]
        before = [self._diff[k] for k in (c - 2, c - 1) if k >= 1]
        after = [self._diff[k] for k in (c + 1, c + 2) if k <= last]
        both = before + after
        if not both:
            return 2.0
        mean = sum(both) / len(both)
        if d >= self._ratio * mean:
            return d / max(self._ratio * mean, 1e-6)
        if not before or not after:
            return None
        sides = sorted((sum(before) / len(before), sum(after) / len(after)))
        if d >= self._ratio * sides[0] and d >= BUSY_SIDE_RATIO * sides[1]:
            return min(d / max(self._ratio * sides[0], 1e-6), d / (BUSY_SIDE_RATIO * max(sides[1], 1e-6)))
        return None

    def _pos_frame(self, pos: int) -> int:
        return self._first_index + pos

    def _add(self, cut: Cut, gap: int = 2) -> None:
        frames = [c.frame for c in self.cuts]
        at = bisect.bisect(frames, cut.frame)
        # Two detectors may see one transition: keep the first report of it.
        if (at and cut.frame - frames[at - 1] <= gap) or (at < len(frames) and frames[at] - cut.frame <= gap):
            return
        # Nor a cut inside the span of a transition already reported.
        for other in self.cuts[max(0, at - 1) : at + 1]:
            if other.span is not None and other.span[0] <= cut.frame <= other.span[1] + gap:
                return
        self.cuts.insert(at, cut)

    # Dissolves -----------------------------------------------------------------------------

    def _dissolve_step(self, run: _DissolveRun, m: int) -> None:
        """Judge the window centred on position m (its end is the newest frame)."""
        half = run.window // 2
        if m - half < 0:
            return
        judged = self._dissolve_window(m - half, m, m + half)
        if judged is None:
            if run.start is not None:
                self._dissolve_close(run)
            run.blocked = False
            return
        if run.blocked:
            return
        if run.start is None:
            run.start = m
        run.end = m
        run.best = max(run.best, judged[0])
        run.fit = max(run.fit, judged[1])
        if run.end - run.start + 1 >= self._longest:
            # Longer than any dissolve: report it once and wait for it to end.
            self._dissolve_close(run)
            run.blocked = True

    def _dissolve_close(self, run: _DissolveRun) -> None:
        if run.start is not None:
            self._add_dissolve(run)
        run.start, run.end, run.best, run.fit = None, -1, 0.0, 0.0

    def _add_dissolve(self, run: _DissolveRun) -> None:
        assert run.start is not None
        if run.end - run.start + 1 < DISSOLVE_MIN_RUN or run.fit < DISSOLVE_MIN_FIT:
            return  # moving pictures passing the tests by chance, just
        half = run.window // 2
        first, last = max(0, run.start - run.window), min(len(self._times) - 1, run.end + half + 1)
        span = self._mix_span(first, last)
        if span is None:
            middle = (run.start + run.end + 1) // 2
            first, last = max(0, run.start - half), min(len(self._times) - 1, run.end + half)
        else:
            first, middle, last = span
        confidence = 0.3 + 0.7 * run.fit * _squash(2 * run.best / self._threshold)
        bounds = (self._pos_frame(first), self._pos_frame(last), self._times[first], self._times[last])
        cut = Cut(self._pos_frame(middle), self._times[middle], "dissolve", run.best, confidence, bounds)
        if self._fade_in is not None and self._fade_in[0] <= cut.frame:
            return  # the pictures of a fade-in, coming out of a blank span
        # Both windows may see one dissolve: the first report of it stands.
        if all(abs(other.frame - cut.frame) > half for _, _, other in self._held):
            self._held.append((first, run.window, cut))

    def _release_held(self, pos: int, final: bool = False) -> None:
        """A dissolve-like run at the start of a fade looks like a dissolve to a dark picture:
        held until the light settles (a dissolve) or the picture reaches a blank (a fade)."""
        while self._held:
            first, window, cut = self._held[0]
            assert cut.span is not None
            end = cut.span[1] - self._first_index
            if any(self._blank[cut.span[0] - self._first_index : pos + 1]):
                self._held.pop(0)  # a fade: its span is reported from the blank
                continue
            settled = pos - end >= self._step and abs(self._bright[pos] - self._bright[pos - self._step]) < FADE_STEP
            if not (final or settled or pos - end > self._lookback):
                return
            self._held.pop(0)
            if final and not settled:
                continue  # the light still changing as the video ends: its closing fade-out
            # Now the new picture is seen in full: its span and middle, measured again.
            span = self._mix_span(first, min(pos, end + window))
            if span is not None:
                start, middle, last = span
                bounds = (self._pos_frame(start), self._pos_frame(last), self._times[start], self._times[last])
                cut = replace(cut, frame=self._pos_frame(middle), time_s=self._times[middle], span=bounds)
            self._add(cut, gap=2)

    def _mix_span(self, first: int, last: int) -> tuple[int, int, int] | None:
        """Where the pictures of [first, last] blend from the first one to the last: the first
        frame with some of the new picture, the first that is mostly new, the last with some of
        the old (projections of each picture on the line between the two ends)."""
        a, b = self._tiny_at(first), self._tiny_at(last)
        if a is None or b is None:
            return None
        a32 = a.astype(np.float32).ravel()
        axis = b.astype(np.float32).ravel() - a32
        norm = float(axis @ axis)
        if norm <= 0:
            return None
        mix = []
        for k in range(first, last + 1):
            picture = self._tiny_at(k)
            if picture is None:
                return None
            mix.append(float((picture.astype(np.float32).ravel() - a32) @ axis) / norm)
        start = next(k for k, m in enumerate(mix) if m > MIX_EDGE)
        middle = next(k for k, m in enumerate(mix) if m >= 0.5)
        end = max(k for k, m in enumerate(mix) if m < 1 - MIX_EDGE)
        return first + start, first + middle, first + max(start, end)

    def _dissolve_window(self, s: int, m: int, e: int) -> tuple[float, float] | None:
        """(the ends' difference, how well the middle fits their mix, 0..1) when [s, e] looks
        like a dissolve, else None."""
        if any(self._blank[k] for k in (s, m, e)):
            return None
        first, middle, last = self._soft_at(s), self._soft_at(m), self._soft_at(e)
        if first is None or middle is None or last is None:
            return None
        span = _mean_abs(first, last)
        # A window sees only part of a long dissolve, so its ends differ less than across a cut.
        if span < DISSOLVE_SPAN * self._threshold:
            return None
        average = cv2.addWeighted(first, 0.5, last, 0.5, 0)
        misfit = _mean_abs(middle, average) / (DISSOLVE_LINEARITY * span)
        if misfit > 1:
            return None
        # Smooth pictures moving slowly also look linear; but only a mix of two different
        # pictures loses contrast in the middle (variances: a dark, flat side keeps the test).
        if _variance(middle) > DISSOLVE_CONTRAST_DIP * 0.5 * (_variance(first) + _variance(last)):
            return None
        # The end the start with its light scaled (a fade or a light change): the same picture.
        if _correlation(first, last) > FADE_CORRELATION:
            return None
        return span, 1.0 - misfit

    # Pictures ------------------------------------------------------------------------------

    def _differs(self, a: int, b: int, level: float) -> bool:
        ta, tb = self._tiny_at(a), self._tiny_at(b)
        if ta is None or tb is None:
            return True
        return _mean_abs(ta, tb) >= level

    def _soft_at(self, pos: int) -> np.ndarray | None:
        oldest = self._tiny[0][0] if self._tiny else 0
        i = pos - oldest
        return self._soft[i] if 0 <= i < len(self._soft) else None

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
    fit: float = 0.0
    blocked: bool = False  # a long dissolve was reported: wait for it to end


BLACK, WHITE = 1, 2


def _squash(x: float) -> float:
    """0 at x <= 1, 0.5 at 2, towards 1 as x grows: how far past a threshold."""
    return 0.0 if x <= 1 else (x - 1) / x


def _hard_confidence(over_threshold: float, over_neighbours: float) -> float:
    return 0.5 + 0.25 * _squash(over_threshold) + 0.25 * _squash(over_neighbours)


def _variance(a: np.ndarray) -> float:
    _, deviation = cv2.meanStdDev(a)
    return float(deviation[0, 0]) ** 2


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two pictures; 1 when either is flat (a fade to a flat colour)."""
    x, y = a.astype(np.float32).ravel(), b.astype(np.float32).ravel()
    x -= x.mean()
    y -= y.mean()
    denominator = float(np.sqrt((x @ x) * (y @ y)))
    if denominator < FLAT_VARIANCE * x.size:
        return 1.0
    return float(x @ y) / denominator


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.mean(cv2.absdiff(a, b))[0])
