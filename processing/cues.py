"""Technical cues: every span the analysis flags, in one list (report.cues).

A cue is a span with a type, a confidence and a detail (the typed shapes are in
processing/schema_cues.py). The quality segments and the audio's silence and clipping become cues
as they are; the detectors of processing/analyzers/cues/ and processing/audio_cues.py flag frames
or audio windows one by one, and a `CueTrack` turns their flags into spans: runs closer than
`merge_s` are one span, and a span shorter than `min_s` is no cue (a detector's single-frame
misfire on ordinary material). A live session also asks a track for the run in progress
(`CueTrack.ongoing`): what it says of a run is what the finished track would say of it so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from vidpulse.processing.analyzers.quality import QualityResult
from vidpulse.processing.audio import AudioResult

T = TypeVar("T")
# Timestamps are rounded to the stream's time base: a hair of tolerance when comparing spans.
_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class Cue:
    type: str
    start_s: float
    end_s: float
    confidence: float
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "start_s": round(self.start_s, 6),
            "end_s": round(self.end_s, 6),
            "confidence": round(min(1.0, max(0.0, self.confidence)), 3),
            "detail": self.detail,
        }


@dataclass(slots=True)
class Run(Generic[T]):
    """A span of flagged units: `flagged_s` of its length was flagged (the rest were gaps merged
    over); `value` folds the values its flagged units carried."""

    start_s: float
    end_s: float
    flagged_s: float
    value: T

    @property
    def share(self) -> float:
        """How much of the span was flagged, 0..1."""
        length = self.end_s - self.start_s
        return 1.0 if length <= 0 else min(1.0, self.flagged_s / length)


class CueTrack(Generic[T]):
    """Flagged units of time in order (frames, audio windows) turned into runs.

    `fold(previous, value)` combines the values of a run's units (its worst value, a count...).
    """

    def __init__(self, min_s: float, merge_s: float, fold: Callable[[T, T], T]) -> None:
        self.min_s = min_s
        self.merge_s = merge_s
        self._fold = fold
        self._open: Run[T] | None = None
        self._last_s = -math.inf  # the end of the latest unit, flagged or not
        self.runs: list[Run[T]] = []

    def update(self, start_s: float, end_s: float, flagged: bool, value: T | None = None) -> None:
        self._last_s = max(self._last_s, end_s)
        if not flagged:
            return
        run = self._open
        if run is not None and start_s - run.end_s <= self.merge_s + _EPS:
            run.end_s = max(run.end_s, end_s)
            run.flagged_s += end_s - start_s
            if value is not None:
                run.value = self._fold(run.value, value)
            return
        self._close()
        assert value is not None, "the first unit of a run carries a value"
        self._open = Run(start_s, end_s, end_s - start_s, value)

    def finish(self) -> list[Run[T]]:
        self._close()
        return self.runs

    def ongoing(self) -> Run[T] | None:
        """The run in progress once it is `min_s` long, while the next units may still extend it (its
        last flagged unit within `merge_s` of the latest unit). A run no unit can extend any more is
        closed here, as the next flagged unit would close it: the runs come out the same."""
        run = self._open
        if run is None:
            return None
        if self._last_s - run.end_s > self.merge_s + _EPS:
            self._close()
            return None
        return run if run.end_s - run.start_s >= self.min_s - _EPS else None

    def end_run(self) -> None:
        """End the open run here, whatever comes next (what is flagged has changed in kind)."""
        self._close()

    def _close(self) -> None:
        run, self._open = self._open, None
        if run is not None and run.end_s - run.start_s >= self.min_s - _EPS:
            self.runs.append(run)


def existing_cues(quality: QualityResult, audio: AudioResult | None) -> list[Cue]:
    """The quality segments and the audio's silence and clipping, as cues: what their own
    detectors decided (with their own minimum durations), so confidence 1."""
    cues = [
        Cue(kind, s.start_s, s.end_s, 1.0)
        for kind, segments in (("black", quality.black), ("frozen", quality.frozen), ("blurry", quality.blurry))
        for s in segments
    ]
    if audio is not None:
        # Rounded as report.audio rounds them, so a cue and its segment there agree.
        cues += [Cue("silence", round(start, 3), round(end, 3), 1.0) for start, end in audio.silence]
        cues += [
            Cue("clipping", round(start, 3), round(end, 3), 1.0, {"samples": n}) for start, end, n in audio.clipping
        ]
    return cues


def in_order(cues: Iterable[Cue]) -> list[Cue]:
    """By start, then end, then type: the order of report.cues and cues.vtt."""
    return sorted(cues, key=lambda c: (c.start_s, c.end_s, c.type))
