"""Per-frame measurements shared by every analyzer, computed once per frame.

Several analyzers need the difference to the previous frame; computing it here once keeps the
frame loop's cost flat as analyzers are added.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidpulse.processing.decode import Frame

# A pixel "changed" when its luma moved by more than this many levels: above compression noise.
NOISE_LEVEL = 10
# A frame is black when at most this fraction of its pixels is brighter than the dark threshold.
BLACK_PIXEL_RATIO = 0.02


@dataclass(frozen=True, slots=True)
class Stats:
    """Scalars of one frame. `difference` is 0..255, the others 0..1 except `sharpness`."""

    brightness: float  # mean luma, 0 = video black, 1 = video white
    difference: float  # mean absolute luma difference to the previous frame, 0..255 (0 on the first)
    motion: float  # fraction of pixels that changed by more than NOISE_LEVEL
    sharpness: float  # variance of the Laplacian at half the analysis size
    black: bool
    white: bool = False  # the mirror of black: at least 98 % of the pixels light


@dataclass(frozen=True, slots=True)
class Measured:
    """A frame with its stats, its luma at half size, and (from the second frame on) the mask
    of changed pixels."""

    frame: Frame
    stats: Stats
    changed: np.ndarray | None  # uint8 0/255, same size as the luma
    half: np.ndarray  # uint8 luma at half the analysis size


class Meter:
    """Measures consecutive frames; holds the previous luma for the differences."""

    def __init__(self, *, full_range: bool, black_threshold: float) -> None:
        self._black_level = 0.0 if full_range else 16.0
        self._span = 255.0 if full_range else 219.0
        self._dark_level = self._black_level + black_threshold * self._span
        self._light_level = self._black_level + (1.0 - black_threshold) * self._span
        self._previous: np.ndarray | None = None

    def measure(self, frame: Frame) -> Measured:
        luma = frame.luma
        pixels = luma.size
        brightness = min(1.0, max(0.0, (float(cv2.mean(luma)[0]) - self._black_level) / self._span))
        _, bright = cv2.threshold(luma, self._dark_level, 255, cv2.THRESH_BINARY)
        black = cv2.countNonZero(bright) <= BLACK_PIXEL_RATIO * pixels
        white = False
        if brightness > 0.5:  # only a light frame can be white: skip the count on most frames
            _, dark = cv2.threshold(luma, self._light_level, 255, cv2.THRESH_BINARY_INV)
            white = cv2.countNonZero(dark) <= BLACK_PIXEL_RATIO * pixels
        height, width = luma.shape
        half = cv2.resize(luma, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA)
        # At half size: a quarter of the cost, and blur still shows.
        _, deviation = cv2.meanStdDev(cv2.Laplacian(half, cv2.CV_16S))
        sharpness = float(deviation[0, 0]) ** 2
        difference, motion, changed = 0.0, 0.0, None
        if self._previous is not None and self._previous.shape == luma.shape:
            diff = cv2.absdiff(luma, self._previous)
            difference = float(cv2.mean(diff)[0])
            _, changed = cv2.threshold(diff, NOISE_LEVEL, 255, cv2.THRESH_BINARY)
            motion = cv2.countNonZero(changed) / pixels
        self._previous = luma
        return Measured(frame, Stats(brightness, difference, motion, sharpness, black, white), changed, half)
