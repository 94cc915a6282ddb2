"""The frame history the transition detectors share (processing/analyzers/transitions/history.py)."""

from __future__ import annotations

import pytest

from tests.processing.conftest import make_clip
from tests.support.detecting import measured_frames
from tests.support.videogen import Segment as S
from vidpulse.processing import AnalysisOptions
from vidpulse.processing.analyzers.transitions.history import BLACK, WHITE, FrameHistory, Reach


def test_reach_at_common_frame_rates() -> None:
    assert Reach.at(25, 0.2) == Reach(lookback=75, dip=5, lookahead=5, step=5, windows=(10, 24), longest=75)
    # Dissolve windows are clamped to 40 frames; a blank scene is at most 30 frames long.
    assert Reach.at(60, 1.0) == Reach(lookback=180, dip=30, lookahead=30, step=12, windows=(24, 40), longest=180)
    # At a low rate, a decision still waits for a flash to pass.
    assert Reach.at(5, 0.2).lookahead == 3


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> FrameHistory:
    segments = [S("scene", 25, 1), S("black", 12), S("scene", 20, 2), S("flash", 3), S("scene", 20, 2)]
    frames, _ = measured_frames(make_clip(tmp_path_factory, "history", segments), AnalysisOptions())
    # A short ring (20 pictures), to see the old pictures go.
    history = FrameHistory(Reach(lookback=1, dip=3, lookahead=3, step=2, windows=(2,), longest=2))
    assert [history.append(measured) for measured in frames] == list(range(80))
    return history


def test_blank_runs(history: FrameHistory) -> None:
    blank = list(history.blank)
    assert [i for i, kind in enumerate(blank) if kind == BLACK] == list(range(25, 37))
    assert [i for i, kind in enumerate(blank) if kind == WHITE] == [57, 58, 59]
    assert history.blank_run_start(37) == 25 and history.blank_run_start(60) == 57
    assert history.blank_run_start(40) == 0  # no blank run ends there
    assert history.level(30, BLACK) == pytest.approx(0.0, abs=0.01)
    assert history.level(58, WHITE) == pytest.approx(0.0, abs=0.02)


def test_scalars(history: FrameHistory) -> None:
    assert history.first_index == 0 and history.frame_of(7) == 7 and history.position_of(7) == 7
    assert history.time_s[25] == pytest.approx(1.0)
    assert history.difference[0] == 0.0 and history.difference[25] > 40 and history.difference[10] < 20


def test_only_recent_pictures_are_kept(history: FrameHistory) -> None:
    assert history.tiny_at(59) is None and history.soft_at(59) is None
    assert history.tiny_at(60) is not None and history.soft_at(79) is not None
    assert history.tiny_at(80) is None
    # A scene drifts a pixel a frame: next to no difference from one frame to the next.
    assert not history.differs(70, 71, 10) and history.differs(60, 79, 10)
    assert history.differs(10, 70, 1000)  # a picture no longer kept: taken to differ


def test_positions_count_from_the_first_frame_fed(tmp_path_factory: pytest.TempPathFactory) -> None:
    frames, fps = measured_frames(make_clip(tmp_path_factory, "offset", [S("scene", 20, 1)]), AnalysisOptions())
    history = FrameHistory(Reach.at(fps, 0.2))
    for measured in frames[8:]:
        history.append(measured)
    assert history.first_index == 8 and history.frame_of(0) == 8 and history.position_of(19) == 11
    assert history.time_s[0] == pytest.approx(8 / 25)
