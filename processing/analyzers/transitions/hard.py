"""Hard cuts between two pictures.

A frame whose mean luma difference to the previous frame is above `cut_threshold` and
`cut_ratio` times that of its neighbours (two frames either side), the adaptive test of
PySceneDetect's AdaptiveDetector that keeps fast pans and large moving objects out. A flash (the
old picture back within FLASH_FRAMES) is no cut: the frames after the candidate must still
differ from the one before it, and the candidate from the few before that.

Cuts into and out of a blank span are the fade detector's (fades.py): whether such an edge is a
cut of its own depends on the blank span and the fade, if any, on its other side.
"""

from __future__ import annotations

from vidpulse.processing.analyzers.transitions.cutlist import Cut, CutList, squash
from vidpulse.processing.analyzers.transitions.history import FLASH_FRAMES, FrameHistory

# A cut next to fast motion must still exceed the moving side's difference by this factor.
BUSY_SIDE_RATIO = 1.5


class HardCutDetector:
    def __init__(self, history: FrameHistory, found: CutList, *, threshold: float, ratio: float) -> None:
        self._history = history
        self._found = found
        self._threshold = threshold
        self._ratio = ratio

    def decide(self, candidate: int) -> None:
        """Whether the frame at position `candidate` starts a new picture; FLASH_FRAMES at least
        must have followed it."""
        history = self._history
        if candidate == 0 or history.blank[candidate] or history.blank[candidate - 1]:
            return
        difference = history.difference[candidate]
        if difference < self._threshold:
            return
        over_neighbours = self._stands_out(candidate)
        if over_neighbours is None:
            return
        # Flash checks: the old picture must not come back, nor this one be a return to it.
        level = 0.5 * difference
        last = len(history) - 1
        after = [candidate + k for k in range(1, FLASH_FRAMES + 1) if candidate + k <= last]
        if any(not history.differs(later, candidate - 1, level) for later in after):
            return
        before = [candidate - k for k in range(2, FLASH_FRAMES + 2) if candidate - k >= 0]
        if any(not history.differs(candidate, earlier, level) for earlier in before):
            return
        self._found.add(hard_cut(history, candidate, self._threshold, over_neighbours))

    def _stands_out(self, candidate: int) -> float | None:
        """How many times `ratio` the difference at `candidate` is over its neighbours' (None:
        not a cut): `ratio` times their mean, or, on a cut into or out of fast motion, `ratio`
        times the calm side's and clearly above the busy side's."""
        differences = self._history.difference
        last = len(differences) - 1
        difference = differences[candidate]
        before = [differences[k] for k in (candidate - 2, candidate - 1) if k >= 1]
        after = [differences[k] for k in (candidate + 1, candidate + 2) if k <= last]
        both = before + after
        if not both:
            return 2.0
        mean = sum(both) / len(both)
        if difference >= self._ratio * mean:
            return difference / max(self._ratio * mean, 1e-6)
        if not before or not after:
            return None
        calm, busy = sorted((sum(before) / len(before), sum(after) / len(after)))
        if difference >= self._ratio * calm and difference >= BUSY_SIDE_RATIO * busy:
            return min(difference / max(self._ratio * calm, 1e-6), difference / (BUSY_SIDE_RATIO * max(busy, 1e-6)))
        return None


def hard_cut(history: FrameHistory, position: int, threshold: float, over_neighbours: float = 2.0) -> Cut:
    """The hard cut at `position`; `over_neighbours`: how many times the cut ratio its
    difference stands over its neighbours' (2 where there are none to compare with: a blank
    span's edge)."""
    difference = history.difference[position]
    over_threshold = difference / threshold
    confidence = 0.5 + 0.25 * squash(over_threshold) + 0.25 * squash(over_neighbours)
    return Cut(history.frame_of(position), history.time_s[position], "hard", difference, confidence)
