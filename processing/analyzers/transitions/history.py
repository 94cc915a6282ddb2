"""The per-frame statistics the transition detectors read, measured once a frame and kept for as
far back as any detector looks.

Scalars (difference to the previous frame, brightness, time, blank kind) are kept for every
frame: a few bytes each. Pictures are kept small (a quarter of the analysis size, at most
TINY_MAX_WIDTH wide: cheaper to compare and steadier) and only for the last `Reach.ring` frames.
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from vidpulse.processing.features import Measured

# What a blank frame is blank with (0: a picture).
BLACK, WHITE = 1, 2
# A flash is a picture that lasts at most this many frames before the old one is back.
FLASH_FRAMES = 3
# How far a fade reaches either side of its blank span: the longest fade looked for.
FADE_LOOKBACK_S = 3.0
# A picture's level (0..1) still moves when it changes by FADE_STEP over FADE_STEP_S: a fade
# goes on, or the light has not settled after a dissolve.
FADE_STEP = 0.01
FADE_STEP_S = 0.2
# Dissolve window lengths in seconds (clamped to a frame range). Runs of windows that look like
# a dissolve make one dissolve, up to DISSOLVE_MAX_S long.
DISSOLVE_WINDOWS_S = (0.4, 1.0)
DISSOLVE_FRAMES = (6, 40)
DISSOLVE_MAX_S = 3.0
# Dissolve windows compare pictures blurred by this (pixels at a quarter of the analysis size),
# so that a camera's motion during the dissolve does not hide it.
DISSOLVE_BLUR = 1.5
TINY_MAX_WIDTH = 160


@dataclass(frozen=True, slots=True)
class Reach:
    """How many frames the detectors look back and ahead, at one frame rate."""

    lookback: int  # the longest fade looked for
    dip: int  # a blank span shorter than this is a dip; one at least this long, a scene of its own
    lookahead: int  # frames a hard cut or a blank span's edge waits for before it is decided
    step: int  # frames over which a fade's level moves by FADE_STEP
    windows: tuple[int, ...]  # dissolve window lengths, even
    longest: int  # the longest run of dissolve windows

    @classmethod
    def at(cls, fps: float, black_min_s: float) -> Reach:
        dip = min(30, max(FLASH_FRAMES, round(black_min_s * fps)))
        low, high = DISSOLVE_FRAMES
        windows = tuple(min(high, max(low, round(seconds * fps))) // 2 * 2 for seconds in DISSOLVE_WINDOWS_S)
        return cls(
            lookback=max(1, round(FADE_LOOKBACK_S * fps)),
            dip=dip,
            lookahead=max(FLASH_FRAMES, dip),
            step=max(2, round(FADE_STEP_S * fps)),
            windows=windows,
            longest=max(windows[-1], round(DISSOLVE_MAX_S * fps)),
        )

    @property
    def ring(self) -> int:
        """Pictures kept: enough for the span of the longest dissolve and the window around it,
        decided up to a lookahead late."""
        return self.lookahead + self.dip + FLASH_FRAMES + self.longest + self.lookback + 2 * max(self.windows) + 4


class FrameHistory:
    """Every frame's scalars, the blank runs, and the recent pictures (plain and blurred).

    The arrays are public for the detectors to read; only `append` writes them."""

    def __init__(self, reach: Reach) -> None:
        self.first_index = 0  # the frame index of position 0
        self.difference = array("d")  # mean luma difference to the previous frame, 0..255
        self.brightness = array("d")  # 0..1
        self.time_s = array("d")
        self.blank = bytearray()  # per position: 0, BLACK or WHITE
        self._blank_start = -1  # where the current blank run began
        self._run_starts: dict[int, int] = {}  # the position after each blank run -> its start
        self._tiny: deque[np.ndarray] = deque(maxlen=reach.ring)
        self._soft: deque[np.ndarray] = deque(maxlen=reach.ring)  # the same pictures blurred

    def __len__(self) -> int:
        return len(self.time_s)

    def append(self, measured: Measured) -> int:
        """Take the next frame's statistics; returns its position."""
        frame, stats = measured.frame, measured.stats
        if not self.time_s:
            self.first_index = frame.index
        position = len(self.time_s)
        self.difference.append(stats.difference)
        self.brightness.append(stats.brightness)
        self.time_s.append(frame.time_s)
        blank = BLACK if stats.black else WHITE if stats.white else 0
        self.blank.append(blank)
        height, width = measured.half.shape
        tiny_width = max(1, min(width // 2, TINY_MAX_WIDTH))
        tiny_size = (tiny_width, max(1, round(height * tiny_width / width)))
        tiny = cv2.resize(measured.half, tiny_size, interpolation=cv2.INTER_AREA)
        self._tiny.append(tiny)
        self._soft.append(cv2.GaussianBlur(tiny, (0, 0), DISSOLVE_BLUR))
        previous = self.blank[position - 1] if position else 0
        if previous and previous != blank:
            self._run_starts[position] = self._blank_start
        if blank and blank != previous:
            self._blank_start = position
        return position

    def frame_of(self, position: int) -> int:
        return self.first_index + position

    def position_of(self, frame: int) -> int:
        return frame - self.first_index

    def blank_run_start(self, after: int) -> int:
        """Where the blank run that ends just before position `after` began (0 when unknown)."""
        return self._run_starts.get(after, 0)

    def level(self, position: int, blank: int) -> float:
        """How far the picture at `position` is from the blank it fades to or from (0..1)."""
        brightness = self.brightness[position]
        return 1.0 - brightness if blank == WHITE else brightness

    def differs(self, one: int, other: int, level: float) -> bool:
        """Whether the pictures at two positions differ by `level` or more (true when either
        is no longer kept)."""
        first, second = self.tiny_at(one), self.tiny_at(other)
        if first is None or second is None:
            return True
        return mean_abs(first, second) >= level

    def tiny_at(self, position: int) -> np.ndarray | None:
        return self._kept(self._tiny, position)

    def soft_at(self, position: int) -> np.ndarray | None:
        return self._kept(self._soft, position)

    def _kept(self, ring: deque[np.ndarray], position: int) -> np.ndarray | None:
        at = position - (len(self.time_s) - len(ring))
        return ring[at] if 0 <= at < len(ring) else None


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.mean(cv2.absdiff(a, b))[0])
