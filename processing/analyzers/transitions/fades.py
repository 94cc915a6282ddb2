"""Fades, and the hard cuts at the edges of blank spans.

A fade is a blank span (black or white frames) with a gradual edge. A fade-out, the blank gap
and a fade-in are ONE transition (kind "fade"), with its span from the first darkening frame to
the last brightening one; its cut (the new scene's first frame) is where the picture comes out
of the blank. The opening fade-in and the closing fade-out of a video are no transitions. A
blank span entered by a hard cut and at least `black_min_s` long is a scene of its own (two
hard cuts; leaving it by a fade-in is a fade spanning the fade-in); a shorter one is a dip (one
cut at its end, if the pictures either side differ). White is a blank only between pictures: a
picture fading from black up to white and back is a white picture, not a fade through white.

A blank edge is decided `Reach.lookahead` frames late, from both sides of the span; the end of
a fade-in's span is followed frame by frame until the picture stops brightening.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidpulse.processing.analyzers.transitions.cutlist import Cut, CutList, squash
from vidpulse.processing.analyzers.transitions.hard import hard_cut
from vidpulse.processing.analyzers.transitions.history import BLACK, FADE_STEP, WHITE, FrameHistory, Reach

# A fade has settled within this much (or this share) of the picture's full level.
FADE_SETTLED = 0.01
FADE_SETTLED_SHARE = 0.03


@dataclass(frozen=True, slots=True)
class _FadeIn:
    """A fade-in out of a blank span whose end is not known yet."""

    cut: int  # position of its cut: the first frame out of the blank
    blank: int  # BLACK or WHITE
    reported: bool  # False: out of a blank scene, and too slow to judge yet by the level it reaches


class FadeDetector:
    def __init__(
        self, history: FrameHistory, reach: Reach, found: CutList, *, threshold: float, fade_threshold: float
    ) -> None:
        self._history = history
        self._reach = reach
        self._found = found
        self._threshold = threshold
        self._fade_threshold = fade_threshold
        self._into_scene: set[int] = set()  # positions of hard cuts into a blank scene
        self._fade_in: _FadeIn | None = None

    @property
    def fading_in_from(self) -> int | None:
        """The frame index where the open fade-in began (None: none is open)."""
        return None if self._fade_in is None else self._history.frame_of(self._fade_in.cut)

    def pending_from(self) -> int | None:
        """The first position where a cut may still be added behind the decided ones: that of a
        fade-in out of a blank scene that is judged only once it ends."""
        if self._fade_in is None or self._fade_in.reported:
            return None
        return self._fade_in.cut

    def decide(self, edge: int) -> None:
        """Decide the boundary before position `edge` if a blank span begins or ends there;
        `Reach.lookahead` frames at least must have followed it."""
        if edge == 0:
            return
        blank = self._history.blank
        before, here = blank[edge - 1], blank[edge]
        if before and before != here:
            self._out_of_blank(edge)
        if here and here != before:
            self._into_blank(edge)

    def follow(self, newest: int) -> None:
        """Grow the open fade-in until the picture stops changing level, a cut or a blank comes."""
        if self._fade_in is None:
            return
        cut = self._fade_in.cut
        if cut >= newest or newest - cut < self._reach.step:
            return
        history = self._history
        if history.blank[newest] or history.difference[newest] >= self._threshold:
            self.close(newest)  # a cut or a blank: the fade-in ended on the frame before
            return
        blank, step = self._fade_in.blank, self._reach.step
        rising = history.level(newest, blank) - history.level(newest - step, blank) >= FADE_STEP
        if newest - cut > self._reach.lookback or not rising:
            self.close(newest + 1)

    def close(self, end: int) -> None:
        """The open fade-in ends before position `end`: report its cut if it was held, and its span's end."""
        if self._fade_in is None:
            return
        cut, blank, reported = self._fade_in.cut, self._fade_in.blank, self._fade_in.reported
        self._fade_in = None
        if end <= cut:
            return
        history = self._history
        full = max(history.level(position, blank) for position in range(cut, end))
        if not reported:
            if full < self._fade_threshold:
                return  # the blank scene only brightened a little
            self._found.add(self._fade_cut(cut, cut, full))
        near = _near_full(full)
        last = next((position for position in range(cut, end) if history.level(position, blank) >= near), end - 1)
        self._found.extend_span(history.frame_of(cut), history.frame_of(last), history.time_s[last])

    def _into_blank(self, first_blank: int) -> None:
        """Only a hard cut into a blank span is decided here; a fade into one is decided where
        the span ends, as one transition with what follows (or none, at the end of the video)."""
        history = self._history
        if history.difference[first_blank] < self._threshold:
            return
        blank, kind, dip = history.blank, history.blank[first_blank], self._reach.dip
        length = 0
        while first_blank + length < len(blank) and blank[first_blank + length] == kind and length < dip:
            length += 1
        if length < dip and first_blank + length < len(blank):
            return  # a dip: decided at its end
        self._into_scene.add(first_blank)
        self._found.add(hard_cut(history, first_blank, self._threshold))

    def _out_of_blank(self, first_picture: int) -> None:
        history, reach = self._history, self._reach
        blank_start = history.blank_run_start(first_picture)
        blank = history.blank[first_picture - 1]
        hard_out = history.difference[first_picture] >= self._threshold
        if blank_start == 0:
            # The video opens blank: a fade-in is no transition; a picture cutting in is a cut,
            # as out of any blank scene.
            if hard_out and first_picture >= reach.dip:
                self._found.add(hard_cut(history, first_picture, self._threshold))
            return
        reached = history.level(min(first_picture + reach.lookahead, len(history) - 1), blank)
        if blank_start in self._into_scene:
            # A blank scene of its own, entered by a hard cut: leaving it is a cut of its own.
            if hard_out:
                self._found.add(hard_cut(history, first_picture, self._threshold))
            elif reached >= self._fade_threshold:
                self._add_fade(first_picture, first_picture, blank, reached)
            else:
                # A slow fade-in is still dark `lookahead` frames on: judged once it ends.
                self._fade_in = _FadeIn(first_picture, blank, reported=False)
            return
        before_blank = range(max(0, blank_start - reach.lookback), blank_start)
        leaving = max(history.level(position, blank) for position in before_blank)
        hard_in = history.difference[blank_start] >= self._threshold
        fade_start = blank_start if hard_in else self._fade_out_start(blank_start, blank)
        if blank == WHITE and BLACK in history.blank[max(0, fade_start - 1) : blank_start]:
            # From black to white: the white is a picture (faded in from black), not a blank
            # passed through; a white blank is one between pictures.
            return
        # A dip or flash with the same picture either side is no cut: compared next to its hard
        # edges (a moving picture changes little there), past its fades (where both are dark).
        after = first_picture if hard_out else min(first_picture + reach.lookahead, len(history) - 1)
        before = max(0, (blank_start if hard_in else fade_start) - 1)
        is_dip = first_picture - blank_start < reach.dip
        if is_dip and not history.differs(after, before, 0.5 * self._threshold):
            return
        if max(leaving, reached) < self._fade_threshold:
            return
        if hard_out and hard_in and is_dip:
            self._found.add(hard_cut(history, first_picture, self._threshold))
            return
        self._add_fade(fade_start, first_picture, blank, max(leaving, reached))

    def _add_fade(self, first: int, cut: int, blank: int, level: float) -> None:
        """A transition through a blank span from position `first`, its cut at `cut`; its end is
        found as the picture settles (`follow`)."""
        self._found.add(self._fade_cut(first, cut, level))
        self._fade_in = _FadeIn(cut, blank, reported=True)

    def _fade_cut(self, first: int, cut: int, level: float) -> Cut:
        history = self._history
        confidence = 0.6 + 0.4 * squash(level / max(self._fade_threshold, 1e-6))
        span = (history.frame_of(first), history.frame_of(cut), history.time_s[first], history.time_s[cut])
        return Cut(history.frame_of(cut), history.time_s[cut], "fade", level * 255, confidence, span)

    def _fade_out_start(self, blank_start: int, blank: int) -> int:
        """The first frame of the fade that ends at the blank span starting at `blank_start`."""
        history, reach = self._history, self._reach
        # Walk back while the level still falls towards the blank, at most `lookback` frames.
        onset = blank_start - 1
        earliest = max(0, blank_start - reach.lookback)
        while onset - 1 >= earliest and history.difference[onset] < self._threshold:
            back = max(earliest, onset - reach.step)
            if history.level(back, blank) - history.level(onset, blank) < FADE_STEP:
                break  # the picture's level has settled: the fade begins about here
            onset -= 1
        fading = range(onset, blank_start)
        full = max(history.level(position, blank) for position in fading) if onset < blank_start else 0.0
        # The fade starts after the last frame at about the full level.
        near = _near_full(full)
        last_full = blank_start - 1
        while last_full >= onset and history.level(last_full, blank) < near:
            last_full -= 1
        return min(blank_start, last_full + 1)


def _near_full(full: float) -> float:
    """The level from which a picture counts as at its full level `full` (settled)."""
    return full - max(FADE_SETTLED, FADE_SETTLED_SHARE * full)
