"""What the detectors find: `Cut`s, merged in frame order into one `CutList`."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any


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


class CutList:
    """The cuts found so far, in frame order. Two detectors may see one transition (a dip is
    a fade and a hard cut at once; the pictures of a fade look like a dissolve): the first
    report of it stands, so the order in which the detectors are asked decides."""

    def __init__(self) -> None:
        self.cuts: list[Cut] = []

    def add(self, cut: Cut, gap: int = 2) -> None:
        """Add `cut` unless a cut already reported lies within `gap` frames of it, or a
        transition already reported spans it."""
        frames = [c.frame for c in self.cuts]
        at = bisect.bisect(frames, cut.frame)
        if (at and cut.frame - frames[at - 1] <= gap) or (at < len(frames) and frames[at] - cut.frame <= gap):
            return
        for other in self.cuts[max(0, at - 1) : at + 1]:
            if other.span is not None and other.span[0] <= cut.frame <= other.span[1] + gap:
                return
        self.cuts.insert(at, cut)

    def extend_span(self, frame: int, end_frame: int, end_s: float) -> None:
        """Move the end of the span of the transition cut at `frame`, if one was reported there:
        a fade-in's end is known only once the picture settles, after its cut was reported."""
        at = bisect.bisect_left([cut.frame for cut in self.cuts], frame)
        if at < len(self.cuts) and self.cuts[at].frame == frame and self.cuts[at].span is not None:
            cut = self.cuts[at]
            first_frame, _, first_s, _ = cut.span  # type: ignore[misc]
            self.cuts[at] = replace(cut, span=(first_frame, end_frame, first_s, end_s))


def squash(x: float) -> float:
    """0 at x <= 1, 0.5 at 2, towards 1 as x grows: how far past a threshold (for confidences)."""
    return 0.0 if x <= 1 else (x - 1) / x
