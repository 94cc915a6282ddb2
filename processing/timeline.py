"""timeline.png: motion and brightness over time, cuts marked, quality segments shaded, and an
optional loudness lane under them.

Drawn with OpenCV and numpy, which the analysis has loaded anyway: matplotlib's import alone cost
about 0.45 s of a 2.7 s `vidpulse analyze` run (docs/benchmarks.md), and this picture needs none
of its generality.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from vidpulse.processing.analyzers.cuts import Cut
from vidpulse.processing.analyzers.quality import QualityResult
from vidpulse.processing.series import FrameSeries
from vidpulse.processing.spans import Segment

WIDTH, PLOT_HEIGHT, LANE_GAP, LANE_HEIGHT = 1000, 290, 12, 70
# Margins around the plot: the legend above, the y labels on the left, the time axis below.
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 26, 44
# Loudness lane range, in LUFS / dBFS: quieter than the floor is drawn at the floor.
LOUDNESS_FLOOR_DB = -60.0

# BGR colours (the palette of the earlier matplotlib plot).
_MOTION = (82, 78, 196)
_BRIGHTNESS = (104, 168, 85)
_LOUDNESS = (179, 114, 129)
_CUT = (34, 34, 34)
_AXIS = (60, 60, 60)
_GRID = (225, 225, 225)
_TEXT = (30, 30, 30)
_SHADES = (("black", (68, 68, 68)), ("frozen", (176, 114, 76)), ("blurry", (82, 132, 221)))
_SHADE_ALPHA = 0.25
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.4


def timeline_png(
    series: FrameSeries,
    motion: Sequence[float],
    cuts: Sequence[Cut],
    quality: QualityResult,
    end_s: float,
    loudness: Sequence[tuple[float, float | None]] | None = None,
) -> bytes:
    """The timeline as PNG bytes. `loudness`: (time in seconds, loudness in LUFS or None where
    unmeasured) pairs, such as the audio analysis' short-term series, drawn in a lane of its own
    under the plot when given and not empty; None and anything below LOUDNESS_FLOOR_DB sit on the
    lane's floor. The line runs from the first pair to the last only: the audio analysis gives
    none while its 3 s window fills, so the start of a video is left blank, not drawn as silence."""
    with_lane = bool(loudness)
    plot = (TOP, TOP + PLOT_HEIGHT)
    lanes = [plot] + ([(plot[1] + LANE_GAP, plot[1] + LANE_GAP + LANE_HEIGHT)] if with_lane else [])
    image = np.full((lanes[-1][1] + BOTTOM, WIDTH, 3), 255, np.uint8)
    start_s = float(series.time_s[0]) if len(series) else 0.0
    x = _Axis(start_s, max(end_s, start_s + 1e-3), LEFT, WIDTH - RIGHT)

    _grid(image, x, plot)
    for name, colour in _SHADES:
        _shade(image, x, getattr(quality, name), colour, lanes)
    times = np.frombuffer(series.time_s, np.float64) if len(series) else np.zeros(0)
    columns, motion_pts, bright_pts = _reduce(x, times, np.asarray(motion, np.float64),
                                              np.frombuffer(series.brightness, np.float64) if len(series) else times)
    _line(image, columns, _to_rows(motion_pts, 0.0, 1.02, plot), _MOTION)
    _line(image, columns, _to_rows(bright_pts, 0.0, 1.02, plot), _BRIGHTNESS)
    for top, bottom in lanes:
        for cut in cuts:
            _vertical(image, x.pixel(cut.time_s), top, bottom, dashed=cut.kind != "hard")
        cv2.rectangle(image, (x.left, top), (x.right, bottom), _AXIS, 1)
    _time_axis(image, x, lanes[-1][1])
    _y_labels(image, plot, ("0", "0.5", "1"), (0.0, 0.5, 1.0), 1.02)
    _vertical_label(image, "0 to 1", plot)
    legend = [("motion (share of pixels moving)", _MOTION, "line"), ("brightness", _BRIGHTNESS, "line"),
              ("cut (dashed: gradual)", _CUT, "line")]
    legend += [(name, colour, "box") for name, colour in _SHADES if getattr(quality, name)]
    if with_lane and loudness is not None:
        top, bottom = lanes[1]
        pairs = np.asarray(loudness, np.float64)  # None becomes NaN
        lane_times, lane_db = pairs[:, 0], pairs[:, 1]
        lane_db = np.clip(np.nan_to_num(lane_db, nan=LOUDNESS_FLOOR_DB, neginf=LOUDNESS_FLOOR_DB), LOUDNESS_FLOOR_DB, 0)
        cols, _, db = _reduce(x, lane_times, lane_db, lane_db)
        _line(image, cols, _to_rows(db, LOUDNESS_FLOOR_DB, 0.0, (top, bottom)), _LOUDNESS)
        _y_labels(image, (top, bottom), ("-60", "0"), (LOUDNESS_FLOOR_DB, 0.0), 0.0, low=LOUDNESS_FLOOR_DB)
        _vertical_label(image, "LUFS", (top, bottom))
        legend.append(("loudness", _LOUDNESS, "line"))
    _legend(image, legend, LEFT, TOP - 8)
    ok, png = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("the timeline could not be encoded as PNG")
    return png.tobytes()


class _Axis:
    """Seconds to pixel columns."""

    def __init__(self, start_s: float, end_s: float, left: int, right: int) -> None:
        self.start_s, self.end_s, self.left, self.right = start_s, end_s, left, right
        self.scale = (right - left) / (end_s - start_s)

    def pixel(self, time_s: float) -> int:
        return round(self.left + (min(max(time_s, self.start_s), self.end_s) - self.start_s) * self.scale)

    def pixels(self, times: np.ndarray) -> np.ndarray:
        clipped = np.clip(times, self.start_s, self.end_s)
        return np.rint(self.left + (clipped - self.start_s) * self.scale).astype(np.int32)


def _reduce(x: _Axis, times: np.ndarray, peak: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, ...]:
    """One point per pixel column: the highest `peak` value (motion peaks matter) and the mean of
    `mean` (brightness). More points than pixels only costs drawing time."""
    n = min(len(times), len(peak), len(mean))
    if not n:
        return np.zeros(0, np.int32), np.zeros(0), np.zeros(0)
    columns = x.pixels(times[:n])
    starts = np.flatnonzero(np.r_[True, columns[1:] != columns[:-1]])
    counts = np.diff(np.r_[starts, n])
    return columns[starts], np.maximum.reduceat(peak[:n], starts), np.add.reduceat(mean[:n], starts) / counts


def _to_rows(values: np.ndarray, low: float, high: float, band: tuple[int, int]) -> np.ndarray:
    # Two pixels inside the frame lines, so that a value at either end stays visible.
    top, bottom = band[0] + 2, band[1] - 2
    share = (np.clip(values, low, high) - low) / (high - low)
    return np.rint(bottom - share * (bottom - top)).astype(np.int32)


def _line(image: np.ndarray, columns: np.ndarray, rows: np.ndarray, colour: tuple[int, int, int]) -> None:
    if len(columns):
        points = np.stack((columns, rows), axis=1).reshape(-1, 1, 2)
        cv2.polylines(image, [points], False, colour, 1, cv2.LINE_AA)


def _shade(image: np.ndarray, x: _Axis, segments: Sequence[Segment], colour: tuple[int, int, int],
           lanes: list[tuple[int, int]]) -> None:
    for seg in segments:
        left, right = x.pixel(seg.start_s), max(x.pixel(seg.start_s) + 1, x.pixel(seg.end_s))
        for top, bottom in lanes:
            region = image[top:bottom, left:right]
            region[:] = (region * (1 - _SHADE_ALPHA) + np.array(colour) * _SHADE_ALPHA).astype(np.uint8)


def _vertical(image: np.ndarray, column: int, top: int, bottom: int, *, dashed: bool) -> None:
    if not dashed:
        cv2.line(image, (column, top), (column, bottom), _CUT, 1)
        return
    for y in range(top, bottom, 7):
        cv2.line(image, (column, y), (column, min(bottom, y + 3)), _CUT, 1)


def _grid(image: np.ndarray, x: _Axis, band: tuple[int, int]) -> None:
    for tick in _ticks(x.start_s, x.end_s):
        column = x.pixel(tick)
        cv2.line(image, (column, band[0]), (column, band[1]), _GRID, 1)


def _ticks(start: float, end: float, most: int = 12) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) across [start, end]."""
    raw = (end - start) / most
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(start / step) * step
    return [first + k * step for k in range(int((end - first) / step + 1e-9) + 1)]


def _time_axis(image: np.ndarray, x: _Axis, bottom: int) -> None:
    ticks = _ticks(x.start_s, x.end_s)
    decimals = max(0, -math.floor(math.log10(ticks[1] - ticks[0]))) if len(ticks) > 1 else 0
    for tick in ticks:
        column = x.pixel(tick)
        cv2.line(image, (column, bottom), (column, bottom + 4), _AXIS, 1)
        _text(image, f"{tick:.{decimals}f}", column, bottom + 17, centre=True)
    _text(image, "time (s)", (x.left + x.right) // 2, bottom + 34, centre=True)


def _y_labels(image: np.ndarray, band: tuple[int, int], labels: Sequence[str], values: Sequence[float],
              high: float, low: float = 0.0) -> None:
    rows = _to_rows(np.asarray(values, np.float64), low, high, band)
    for label, row in zip(labels, rows, strict=True):
        cv2.line(image, (LEFT - 4, int(row)), (LEFT, int(row)), _AXIS, 1)
        (width, height), _ = cv2.getTextSize(label, _FONT, _FONT_SCALE, 1)
        _text(image, label, LEFT - 7 - width, int(row) + height // 2)


def _vertical_label(image: np.ndarray, label: str, band: tuple[int, int]) -> None:
    (width, height), baseline = cv2.getTextSize(label, _FONT, _FONT_SCALE, 1)
    patch = np.full((height + baseline + 2, width + 2, 3), 255, np.uint8)
    cv2.putText(patch, label, (1, height + 1), _FONT, _FONT_SCALE, _TEXT, 1, cv2.LINE_AA)
    turned = cv2.rotate(patch, cv2.ROTATE_90_COUNTERCLOCKWISE)
    top = max(0, (band[0] + band[1] - turned.shape[0]) // 2)
    image[top : top + turned.shape[0], 4 : 4 + turned.shape[1]] = turned


def _legend(image: np.ndarray, entries: list[tuple[str, tuple[int, int, int], str]], left: int, y: int) -> None:
    """One row above the plot, where it hides nothing."""
    for label, colour, kind in entries:
        if kind == "box":
            region = image[y - 7 : y + 1, left : left + 22]
            region[:] = (region * (1 - _SHADE_ALPHA) + np.array(colour) * _SHADE_ALPHA).astype(np.uint8)
            cv2.rectangle(image, (left, y - 7), (left + 22, y + 1), colour, 1)
        else:
            cv2.line(image, (left, y - 3), (left + 22, y - 3), colour, 2, cv2.LINE_AA)
        _text(image, label, left + 28, y + 1)
        left += 28 + cv2.getTextSize(label, _FONT, _FONT_SCALE, 1)[0][0] + 18


def _text(image: np.ndarray, text: str, x: int, y: int, *, centre: bool = False) -> None:
    if centre:
        x -= cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)[0][0] // 2
    cv2.putText(image, text, (x, y), _FONT, _FONT_SCALE, _TEXT, 1, cv2.LINE_AA)
