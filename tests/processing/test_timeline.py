from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.support.videogen import Segment as Clip
from tests.support.videogen import silence, tone, write_video, write_video_with_audio
from vidpulse.processing import AnalysisOptions, analyze
from vidpulse.processing.analyzers.cuts import Cut
from vidpulse.processing.analyzers.quality import QualityResult
from vidpulse.processing.series import FrameSeries
from vidpulse.processing.spans import Segment
from vidpulse.processing.timeline import (
    BOTTOM,
    LANE_GAP,
    LANE_HEIGHT,
    LEFT,
    PLOT_HEIGHT,
    RIGHT,
    TOP,
    WIDTH,
    timeline_png,
)

FPS = 25.0


def _series(frames: int, brightness: float = 0.5) -> FrameSeries:
    series = FrameSeries()
    for i in range(frames):
        series.index.append(i)
        series.time_s.append(i / FPS)
        series.brightness.append(brightness)
        for column in (series.motion, series.sharpness, series.difference):
            column.append(0.0)
    return series


def _quality(black: list[Segment] | None = None) -> QualityResult:
    return QualityResult(black=black or [], frozen=[], blurry=[], brightness_mean=0.5, brightness_min=0.5,
                         brightness_max=0.5)


def _decode(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def _column(time_s: float, end_s: float) -> int:
    return round(LEFT + time_s / end_s * (WIDTH - RIGHT - LEFT))


def test_lines_cuts_and_shading_land_where_their_values_are() -> None:
    frames, end_s = 250, 10.0
    motion = [0.0] * frames
    motion[100] = 1.0  # one spike at 4 s
    cuts = [Cut(150, 6.0, "hard", 40.0, confidence=1.0)]
    black = [Segment(200, 225, 8.0, 9.0)]
    image = _decode(timeline_png(_series(frames), motion, cuts, _quality(black), end_s))
    assert image.shape == (TOP + PLOT_HEIGHT + BOTTOM, WIDTH, 3)
    plot = image[TOP + 2 : TOP + PLOT_HEIGHT - 1]
    # The motion spike reaches the top of the plot at 4 s and nowhere else.
    top_rows = plot[:20]
    red = (top_rows[..., 2].astype(int) - top_rows[..., 1] > 60).any(axis=0)
    assert red[_column(4.0, end_s) - 2 : _column(4.0, end_s) + 3].any()
    assert not red[_column(5.0, end_s) :].any()
    # The hard cut is a dark full-height line; the black segment is shaded grey.
    assert (plot[:, _column(6.0, end_s)].max(axis=1) < 100).mean() > 0.9
    shaded = plot[: PLOT_HEIGHT // 3, _column(8.5, end_s)]
    assert 150 < shaded.mean() < 240


def test_loudness_lane_is_drawn_below_the_plot_only_when_given() -> None:
    frames, end_s = 100, 4.0
    series = _series(frames)
    without = _decode(timeline_png(series, [0.0] * frames, [], _quality(), end_s))
    # Loud, then near the floor, with an unmeasured stretch (None) at the end.
    loud = [(i * 0.1, -6.0 if i < 20 else -54.0 if i < 35 else None) for i in range(40)]
    with_lane = _decode(timeline_png(series, [0.0] * frames, [], _quality(), end_s, loudness=loud))
    assert with_lane.shape[0] == without.shape[0] + LANE_GAP + LANE_HEIGHT
    lane = with_lane[TOP + PLOT_HEIGHT + LANE_GAP + 1 : TOP + PLOT_HEIGHT + LANE_GAP + LANE_HEIGHT - 1]
    coloured = np.abs(lane.astype(int) - lane.mean(axis=2, keepdims=True)).max(axis=2) > 25
    rows_early = np.flatnonzero(coloured[:, _column(1.0, end_s)])
    rows_late = np.flatnonzero(coloured[:, _column(3.0, end_s)])
    assert len(rows_early) and len(rows_late)
    # Loud is drawn near the top of the lane, quiet near its bottom.
    assert rows_early.mean() < LANE_HEIGHT / 3 < 2 * LANE_HEIGHT / 3 < rows_late.mean()
    empty = _decode(timeline_png(series, [0.0] * frames, [], _quality(), end_s, loudness=[]))
    assert empty.shape == without.shape


def test_an_empty_or_single_frame_series_still_draws() -> None:
    for frames in (0, 1):
        image = _decode(timeline_png(_series(frames), [0.0] * frames, [], _quality(), 1 / FPS))
        assert image.shape[1] == WIDTH


def test_an_analysis_with_sound_draws_the_loudness_lane(tmp_path: Path) -> None:
    loud_then_silent = np.concatenate((tone(-12.0, 4.0), silence(4.0)), axis=1)
    with_sound = tmp_path / "sound.mp4"
    write_video_with_audio(with_sound, [Clip("scene", 200, 1)], loud_then_silent, size=(320, 240))
    analyze(with_sound, tmp_path / "a", AnalysisOptions())
    image = cv2.imread(str(tmp_path / "a" / "timeline.png"))
    assert image is not None and image.shape[0] == TOP + PLOT_HEIGHT + LANE_GAP + LANE_HEIGHT + BOTTOM
    lane = image[TOP + PLOT_HEIGHT + LANE_GAP + 1 : TOP + PLOT_HEIGHT + LANE_GAP + LANE_HEIGHT - 1]
    coloured = np.abs(lane.astype(int) - lane.mean(axis=2, keepdims=True)).max(axis=2) > 25
    loud, quiet = (np.flatnonzero(coloured[:, _column(t, 8.0)]) for t in (3.6, 7.8))
    # -12 LUFS near the top of the -60..0 lane; silence on its floor.
    assert len(loud) and len(quiet) and loud.mean() < LANE_HEIGHT / 3 and quiet.mean() > 2 * LANE_HEIGHT / 3
    silent = tmp_path / "silent.mp4"
    write_video(silent, [Clip("scene", 25, 1)], size=(320, 240))
    analyze(silent, tmp_path / "b", AnalysisOptions())
    image = cv2.imread(str(tmp_path / "b" / "timeline.png"))
    assert image is not None and image.shape[0] == TOP + PLOT_HEIGHT + BOTTOM
