"""Cross-dissolves.

Over a window of W frames the end pictures differ, yet the middle one is their mix (blurred
slightly, so a moving camera does not hide it), has lost contrast as a mix of two pictures does,
and the ends are not one picture with its light changed (correlation: that is a fade, and a dark
or sparse side still passes, where a gain test would take it for a fade). Runs of such windows
make one dissolve; its span and middle come from projecting each picture on the line between
the run's end pictures. A dissolve is held until the light settles, since the start of a
fade-out looks like a dissolve to a dark picture until the blank arrives.

Each window length of `Reach.windows` keeps its own run: a short window sees a short dissolve
clearly, a long one a slow dissolve whose frames barely differ from one to the next.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from vidpulse.processing.analyzers.transitions.cutlist import Cut, CutList, squash
from vidpulse.processing.analyzers.transitions.history import FADE_STEP, FrameHistory, Reach, mean_abs

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
# A dissolve passes the tests in at least this many consecutive windows.
DISSOLVE_MIN_RUN = 3
# ... and in one of them at least, its middle is this well (0..1) its ends' mix.
DISSOLVE_MIN_FIT = 0.2


@dataclass
class _Run:
    """The run of dissolve-like windows of one length seen so far, by their middles."""

    window: int
    first_middle: int | None = None
    last_middle: int = -1
    widest: float = 0.0  # the largest difference between a window's ends
    best_fit: float = 0.0  # how well the best window's middle is its ends' mix (0..1)
    blocked: bool = False  # a long dissolve was reported: wait for it to end


@dataclass(frozen=True, slots=True)
class _Held:
    """A dissolve waiting for the light to settle."""

    first: int  # the first position of its span as first measured
    window: int
    cut: Cut


class DissolveDetector:
    def __init__(self, history: FrameHistory, reach: Reach, found: CutList, *, threshold: float) -> None:
        self._history = history
        self._reach = reach
        self._found = found
        self._threshold = threshold
        self._runs = [_Run(window) for window in reach.windows]
        self._held: list[_Held] = []  # in the order found; a few at most

    def pending_from(self) -> int:
        """The first position where a dissolve may still be added: the start of a run of windows
        going on, the oldest window not judged yet, or a dissolve held."""
        pending = min(
            run.first_middle if run.first_middle is not None else len(self._history) - run.window // 2
            for run in self._runs
        )
        return min([pending, *(held.first for held in self._held)])

    def step(self, newest: int, fading_in_from: int | None) -> None:
        """Judge each window that ends at position `newest`. `fading_in_from`: the frame where
        a fade-in out of a blank span began, if one is open (its pictures are no dissolve)."""
        for run in self._runs:
            self._judge(run, newest - run.window // 2, fading_in_from)

    def close(self, fading_in_from: int | None) -> None:
        """The video has ended: report the runs going on."""
        for run in self._runs:
            self._close(run, fading_in_from)

    def release(self, newest: int, final: bool = False) -> None:
        """A dissolve-like run at the start of a fade looks like a dissolve to a dark picture:
        held until the light settles (a dissolve) or the picture reaches a blank (a fade)."""
        history, step = self._history, self._reach.step
        while self._held:
            held = self._held[0]
            assert held.cut.span is not None
            span_start, span_end = (history.position_of(frame) for frame in held.cut.span[:2])
            if any(history.blank[span_start : newest + 1]):
                self._held.pop(0)  # a fade: its span is reported from the blank
                continue
            brightness = history.brightness
            settled = newest - span_end >= step and abs(brightness[newest] - brightness[newest - step]) < FADE_STEP
            if not (final or settled or newest - span_end > self._reach.lookback):
                return
            self._held.pop(0)
            if final and not settled:
                continue  # the light still changing as the video ends: its closing fade-out
            # Now the new picture is seen in full: its span and middle, measured again.
            cut = held.cut
            mix = self._mix_span(held.first, min(newest, span_end + held.window))
            if mix is not None:
                first, middle, last = mix
                bounds = (history.frame_of(first), history.frame_of(last), history.time_s[first], history.time_s[last])
                cut = replace(cut, frame=history.frame_of(middle), time_s=history.time_s[middle], span=bounds)
            self._found.add(cut, gap=2)

    def _judge(self, run: _Run, middle: int, fading_in_from: int | None) -> None:
        """Judge the window of `run`'s length centred on position `middle`."""
        half = run.window // 2
        if middle - half < 0:
            return
        judged = self._looks_like_dissolve(middle - half, middle, middle + half)
        if judged is None:
            if run.first_middle is not None:
                self._close(run, fading_in_from)
            run.blocked = False
            return
        if run.blocked:
            return
        if run.first_middle is None:
            run.first_middle = middle
        run.last_middle = middle
        run.widest = max(run.widest, judged[0])
        run.best_fit = max(run.best_fit, judged[1])
        if run.last_middle - run.first_middle + 1 >= self._reach.longest:
            # Longer than any dissolve: report it once and wait for it to end.
            self._close(run, fading_in_from)
            run.blocked = True

    def _close(self, run: _Run, fading_in_from: int | None) -> None:
        if run.first_middle is not None:
            self._hold(run, run.first_middle, fading_in_from)
        run.first_middle, run.last_middle, run.widest, run.best_fit = None, -1, 0.0, 0.0

    def _hold(self, run: _Run, first_middle: int, fading_in_from: int | None) -> None:
        """Measure the dissolve that `run` saw and hold it until the light settles."""
        if run.last_middle - first_middle + 1 < DISSOLVE_MIN_RUN or run.best_fit < DISSOLVE_MIN_FIT:
            return  # moving pictures passing the tests by chance, just
        history = self._history
        last_position = len(history) - 1
        half = run.window // 2
        first, last = max(0, first_middle - run.window), min(last_position, run.last_middle + half + 1)
        mix = self._mix_span(first, last)
        if mix is None:
            middle = (first_middle + run.last_middle + 1) // 2
            first, last = max(0, first_middle - half), min(last_position, run.last_middle + half)
        else:
            first, middle, last = mix
        confidence = 0.3 + 0.7 * run.best_fit * squash(2 * run.widest / self._threshold)
        bounds = (history.frame_of(first), history.frame_of(last), history.time_s[first], history.time_s[last])
        cut = Cut(history.frame_of(middle), history.time_s[middle], "dissolve", run.widest, confidence, bounds)
        if fading_in_from is not None and fading_in_from <= cut.frame:
            return  # the pictures of a fade-in, coming out of a blank span
        # Both window lengths may see one dissolve: the first report of it stands.
        if all(abs(held.cut.frame - cut.frame) > half for held in self._held):
            self._held.append(_Held(first, run.window, cut))

    def _mix_span(self, first: int, last: int) -> tuple[int, int, int] | None:
        """Where the pictures of [first, last] blend from the first one to the last: the first
        frame with some of the new picture, the first that is mostly new, the last with some of
        the old (projections of each picture on the line between the two ends)."""
        old, new = self._history.tiny_at(first), self._history.tiny_at(last)
        if old is None or new is None:
            return None
        origin = old.astype(np.float32).ravel()
        axis = new.astype(np.float32).ravel() - origin
        norm = float(axis @ axis)
        if norm <= 0:
            return None
        shares = []  # of the new picture, per frame
        for position in range(first, last + 1):
            picture = self._history.tiny_at(position)
            if picture is None:
                return None
            shares.append(float((picture.astype(np.float32).ravel() - origin) @ axis) / norm)
        some_new = next(offset for offset, share in enumerate(shares) if share > MIX_EDGE)
        mostly_new = next(offset for offset, share in enumerate(shares) if share >= 0.5)
        some_old = max(offset for offset, share in enumerate(shares) if share < 1 - MIX_EDGE)
        return first + some_new, first + mostly_new, first + max(some_new, some_old)

    def _looks_like_dissolve(self, start: int, middle: int, end: int) -> tuple[float, float] | None:
        """(the ends' difference, how well the middle fits their mix, 0..1) when the window
        [start, end] looks like a dissolve, else None."""
        history = self._history
        if any(history.blank[position] for position in (start, middle, end)):
            return None
        first, centre, last = history.soft_at(start), history.soft_at(middle), history.soft_at(end)
        if first is None or centre is None or last is None:
            return None
        span = mean_abs(first, last)
        # A window sees only part of a long dissolve, so its ends differ less than across a cut.
        if span < DISSOLVE_SPAN * self._threshold:
            return None
        average = cv2.addWeighted(first, 0.5, last, 0.5, 0)
        misfit = mean_abs(centre, average) / (DISSOLVE_LINEARITY * span)
        if misfit > 1:
            return None
        # Smooth pictures moving slowly also look linear; but only a mix of two different
        # pictures loses contrast in the middle (variances: a dark, flat side keeps the test).
        if _variance(centre) > DISSOLVE_CONTRAST_DIP * 0.5 * (_variance(first) + _variance(last)):
            return None
        # The end the start with its light scaled (a fade or a light change): the same picture.
        if _correlation(first, last) > FADE_CORRELATION:
            return None
        return span, 1.0 - misfit


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
