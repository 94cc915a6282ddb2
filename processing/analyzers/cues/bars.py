"""Colour bars: a still picture whose top half is vertical bands of uniform colour.

Every common test pattern has them: SMPTE EG 1 (seven bars over two thirds of the picture, the
castellations and PLUGE below), SMPTE RP 219 (the same seven between grey side panels, over 7/12
of the height) and EBU (eight bars, full height). The test runs on the analysis luma the pipeline
already has: the top half's columns must each be flat (natural pictures fail here, on three
sampled rows, before anything costs), and its column profile must be at least MIN_BANDS bands of
distinct levels covering most of the width. The colour copy the pipeline makes every few frames
(pipeline.THUMBNAIL_CANDIDATE_EVERY) then confirms that some bands are saturated colours: a grey
staircase is not colour bars. Frames between two colour copies wait for the next verdict, so a
cue starts on its exact frame.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vidpulse.processing.cues import Cue, CueTrack, Run
from vidpulse.processing.features import Measured

# The bars of every pattern fill at least the top half (SMPTE RP 219: 7/12).
TOP = 0.5
# A column is flat when its luma varies by at most this (levels, standard deviation) down the top half.
FLAT_STD = 3.0
FLAT_COLUMNS = 0.9
# Neighbouring columns of one band differ by at most this (levels): edges blurred by the downscale
# and the codec fall between bands.
BAND_STEP = 3.0
# A band is at least this share of the width (SMPTE's bars are 1/7, RP 219's side panels 1/8).
MIN_BAND = 1 / 40
MIN_BANDS = 6
# The bands cover at least this share of the width.
COVERED = 0.8
# A band is a colour when its BGR channels spread by at least this (75 % bars: 191).
SATURATED = 64
MIN_COLOURS = 3
# Consecutive frames differing by more than this (mean luma, levels) are not one still pattern.
STILL = 2.0
MIN_S = 0.5
MERGE_S = 0.2


@dataclass(frozen=True, slots=True)
class Band:
    start: int  # first column
    end: int  # exclusive
    level: float


@dataclass(frozen=True, slots=True)
class _Seen:
    covered: float
    detail: dict[str, Any]


def bands_of(profile: np.ndarray, min_width: int) -> list[Band]:
    """Runs of columns whose levels step by at most BAND_STEP, at least `min_width` wide."""
    steps = np.abs(np.diff(profile)) > BAND_STEP
    edges = [0, *(np.flatnonzero(steps) + 1).tolist(), len(profile)]
    return [
        Band(start, end, float(profile[start:end].mean()))
        for start, end in itertools.pairwise(edges)
        if end - start >= min_width
    ]


def striped(luma: np.ndarray) -> list[Band] | None:
    """The bands across the top of a picture of vertical bars, or None."""
    height, width = luma.shape
    top = luma[: max(2, int(height * TOP))]
    # Three rows first: a natural picture differs between them, and costs nothing more.
    first, middle, last = top[len(top) // 8], top[len(top) // 2], top[-1]
    limit = FLAT_STD * width
    if cv2.norm(first, middle, cv2.NORM_L1) > limit or cv2.norm(middle, last, cv2.NORM_L1) > limit:
        return None
    if (top.std(axis=0) <= FLAT_STD).mean() < FLAT_COLUMNS:
        return None
    bands = bands_of(top.mean(axis=0), max(2, round(width * MIN_BAND)))
    distinct = sum(1 for a, b in itertools.pairwise(bands) if abs(a.level - b.level) > BAND_STEP)
    if len(bands) < MIN_BANDS or distinct < MIN_BANDS - 1:
        return None
    if sum(b.end - b.start for b in bands) < COVERED * width:
        return None
    return bands


def colours_of(colour: np.ndarray, bands: list[Band], luma_width: int) -> list[np.ndarray]:
    """Mean BGR of the middle of each band over the top half of the colour copy."""
    height, width = colour.shape[:2]
    top = colour[: max(1, int(height * TOP))]
    scale = width / luma_width
    means = []
    for band in bands:
        lo, hi = band.start * scale, band.end * scale
        margin = (hi - lo) * 0.2
        means.append(top[:, int(lo + margin) : max(int(lo + margin) + 1, int(hi - margin))].mean(axis=(0, 1)))
    return means


def classify(luma: np.ndarray, bands: list[Band], colours: list[np.ndarray]) -> dict[str, Any] | None:
    """The detail of a bars cue, or None when too few bands are colours."""
    spread = [float(c.max() - c.min()) for c in colours]
    saturated = [c for c, s in zip(colours, spread, strict=True) if s >= SATURATED]
    if len(saturated) < MIN_COLOURS:
        return None
    height, width = luma.shape
    top = luma[: max(2, int(height * TOP))].mean(axis=0)
    bottom = luma[int(height * 0.8) :].mean(axis=0)
    first, last = bands[0], bands[-1]
    sides = [(first.end - first.start) / width, (last.end - last.start) / width]
    if float(np.abs(top - bottom).mean()) < FLAT_STD * 2:
        pattern = "ebu"
    elif (
        all(0.08 <= s <= 0.18 for s in sides)
        and abs(first.level - last.level) <= BAND_STEP * 2
        and max(spread[0], spread[-1]) < SATURATED / 2
    ):
        pattern = "smpte_hd"
    elif len(bands) == 7:
        pattern = "smpte"
    else:
        pattern = "bars"
    # 75 % bars put their colours at 191 of 255, 100 % at 255; read through BT.601 (the colour
    # copy's conversion), BT.709 bars (SMPTE RP 219) land up to about 225.
    peak = max(float(c.max()) for c in saturated)
    amplitude = 100 if peak >= 240 else 75 if peak >= 170 else None
    return {"pattern": pattern, "bands": len(bands), "amplitude_percent": amplitude}


class BarsDetector:
    """An Analyzer (analyzers/__init__.py) whose result is the colour_bars cues."""

    def __init__(self, fps: float) -> None:
        self._frame_s = 1.0 / fps
        self._track: CueTrack[_Seen] = CueTrack(MIN_S, MERGE_S, lambda a, b: a if a.covered <= b.covered else b)
        self._verdict: dict[str, Any] | None = None  # of the still pattern on screen, once a colour copy came
        self._known = False
        self._waiting: list[tuple[float, float]] = []  # frames of the pattern before its first colour copy
        self.striped = False  # the latest frame is a still pattern of bands, whatever its colours

    def update(self, measured: Measured) -> None:
        frame, stats = measured.frame, measured.stats
        span = (frame.time_s, frame.time_s + self._frame_s)
        bands = None if stats.black else striped(frame.luma)
        self.striped = bands is not None
        if bands is None or stats.difference > STILL:
            self._settle(None)
            self._known = False
        if bands is None:
            self._track.update(*span, False)
            return
        if frame.colour is not None:
            self._settle(classify(frame.luma, bands, colours_of(frame.colour, bands, frame.luma.shape[1])))
        covered = sum(b.end - b.start for b in bands) / frame.luma.shape[1]
        if not self._known:
            self._waiting.append(span)
        elif self._verdict is not None:
            self._track.update(*span, True, _Seen(covered, self._verdict))

    def _settle(self, verdict: dict[str, Any] | None) -> None:
        """The colour verdict for the pattern on screen: flags the frames that waited for it."""
        if verdict != self._verdict:
            self._track.end_run()  # another pattern: a cue of its own
        self._verdict, self._known = verdict, True
        if verdict is not None:
            for span in self._waiting:
                self._track.update(*span, True, _Seen(1.0, verdict))
        self._waiting.clear()

    @property
    def pending(self) -> bool:
        """Frames of a pattern wait for a colour copy's verdict."""
        return bool(self._waiting)

    def ongoing(self) -> Cue | None:
        """The cue in progress, as far as it goes (a live session's incidents)."""
        run = self._track.ongoing()
        return None if run is None else _cue(run)

    def result(self) -> list[Cue]:
        return [_cue(run) for run in self._track.finish()]


def _cue(run: Run[_Seen]) -> Cue:
    return Cue("color_bars", run.start_s, run.end_s, run.share * run.value.covered, run.value.detail)
