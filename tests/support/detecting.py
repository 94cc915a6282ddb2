"""One transition detector run alone over a generated clip, for the tests of
processing/analyzers/transitions/: what it finds without the others, fed in the order that
`CutAnalyzer` feeds it (processing/analyzers/cuts.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.transitions import KnownClip, Score, make_known_clip, score
from vidpulse.processing import AnalysisOptions
from vidpulse.processing.analyzers.transitions.cutlist import Cut, CutList
from vidpulse.processing.analyzers.transitions.dissolves import DissolveDetector
from vidpulse.processing.analyzers.transitions.fades import FadeDetector
from vidpulse.processing.analyzers.transitions.hard import HardCutDetector
from vidpulse.processing.analyzers.transitions.history import FrameHistory, Reach
from vidpulse.processing.decode import Decoder
from vidpulse.processing.features import Measured, Meter


def known_clip(tmp_path_factory: pytest.TempPathFactory, shape: str, seconds: float) -> KnownClip:
    """A clip of the accuracy suite (tests/support/transitions.py), written once for all the detectors' tests."""
    folder = tmp_path_factory.getbasetemp() / "known-clips"
    folder.mkdir(exist_ok=True)
    return make_known_clip(folder, shape, seconds)


def score_alone(clip: KnownClip, cuts: list[Cut]) -> Score:
    """The accuracy suite's score of what one detector found: the clip's hard cut is another
    detector's, counted as found."""
    return score(clip, [*(cut.to_dict() for cut in cuts), {"frame": clip.hard_cut, "kind": "hard"}])


def near(cut: Cut, frame: int, span: tuple[int, int], tolerance: int) -> bool:
    """Whether a gradual transition's cut and span ends are each within `tolerance` frames of
    the expected ones."""
    if cut.span is None:
        return False
    found = (cut.frame, cut.span[0], cut.span[1])
    return all(abs(got - want) <= tolerance for got, want in zip(found, (frame, *span), strict=True))


def measured_frames(path: Path, options: AnalysisOptions) -> tuple[list[Measured], float]:
    """Every frame of the clip measured as the pipeline measures it, and the clip's frame rate."""
    frames: list[Measured] = []
    with Decoder(path, options.width) as decoder:
        meter: Meter | None = None
        for frame in decoder.frames():
            if meter is None:
                meter = Meter(full_range=decoder.full_range, black_threshold=options.black_threshold)
            frames.append(meter.measure(frame))
        return frames, decoder.fps


class Alone:
    """A clip's frames, the history they fill and the list a detector adds to."""

    def __init__(self, path: Path, **options: Any) -> None:
        self.options = AnalysisOptions(**options)
        self.frames, fps = measured_frames(path, self.options)
        self.reach = Reach.at(fps, self.options.black_min_s)
        self.history = FrameHistory(self.reach)
        self.found = CutList()

    def feed(self) -> Iterator[int]:
        """Append each frame to the history; yields its position."""
        for measured in self.frames:
            yield self.history.append(measured)

    def due(self, newest: int) -> int | None:
        """The position whose hard cut or blank edge is decided once `newest` is in."""
        position = newest - self.reach.lookahead
        return position if position >= 0 else None

    def undecided(self) -> range:
        """The last positions, decided only when the video ends."""
        return range(max(0, len(self.history) - self.reach.lookahead), len(self.history))


def hard_cuts(path: Path, **options: Any) -> list[Cut]:
    alone = Alone(path, **options)
    detector = HardCutDetector(
        alone.history, alone.found, threshold=alone.options.cut_threshold, ratio=alone.options.cut_ratio
    )
    for newest in alone.feed():
        due = alone.due(newest)
        if due is not None:
            detector.decide(due)
    for position in alone.undecided():
        detector.decide(position)
    return alone.found.cuts


def fades(path: Path, pending: list[int | None] | None = None, **options: Any) -> list[Cut]:
    """The fades and blank edges' cuts; `pending` collects the detector's `pending_from`
    after each frame."""
    alone = Alone(path, **options)
    opts = alone.options
    detector = FadeDetector(
        alone.history, alone.reach, alone.found, threshold=opts.cut_threshold, fade_threshold=opts.fade_threshold
    )
    for newest in alone.feed():
        due = alone.due(newest)
        if due is not None:
            detector.decide(due)
        detector.follow(newest)
        if pending is not None:
            pending.append(detector.pending_from())
    for position in alone.undecided():
        detector.decide(position)
    detector.close(len(alone.history))
    return alone.found.cuts


def dissolves(path: Path, fading_in_from: int | None = None, **options: Any) -> list[Cut]:
    """The dissolves; `fading_in_from` stands for a fade-in that the fade detector would have
    open from that frame on."""
    alone = Alone(path, **options)
    detector = DissolveDetector(alone.history, alone.reach, alone.found, threshold=alone.options.cut_threshold)
    for newest in alone.feed():
        detector.step(newest, fading_in_from)
        detector.release(newest)
    detector.close(fading_in_from)
    detector.release(len(alone.history) - 1, final=True)
    return alone.found.cuts
