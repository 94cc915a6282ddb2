from __future__ import annotations

from pathlib import Path

import pytest

from tests.processing.conftest import analyse, frames_of, make_clip
from tests.support.videogen import Segment as S
from tests.support.videogen import Truth


def test_black_and_frozen_within_one_frame(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    path, truth = std_clip
    report = analyse(path, tmp_path)
    for key, spans in (("black", truth.black), ("frozen", truth.frozen)):
        found = frames_of(report, key)
        assert len(found) == len(spans), (key, found)
        for (start, end), (want_start, want_end) in zip(found, spans, strict=True):
            assert abs(start - want_start) <= 1 and abs(end - want_end) <= 1, (key, found)


def test_segment_end_is_exclusive(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    path, truth = std_clip
    (black,) = analyse(path, tmp_path)["quality"]["black"]
    start, end = truth.black[0]
    assert black["start_s"] == pytest.approx(start / truth.fps)
    assert black["end_s"] == pytest.approx(end / truth.fps)


def test_blurry_segment(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    path = make_clip(tmp_path_factory, "blur", [S("scene", 25, 1), S("blur", 25, 1), S("scene", 25, 2)])
    ((start, end),) = frames_of(analyse(path, tmp_path), "blurry")
    assert abs(start - 25) <= 1 and end == 50


def test_short_segments_are_not_reported(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    path = make_clip(tmp_path_factory, "shortblack", [S("scene", 25, 1), S("black", 3), S("scene", 25, 2)])
    report = analyse(path, tmp_path, black_min_s=0.5)
    assert report["quality"]["black"] == []


def test_black_at_the_end_runs_to_the_end(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    path = make_clip(tmp_path_factory, "endblack", [S("scene", 25, 1), S("black", 10)])
    assert frames_of(analyse(path, tmp_path), "black") == [(25, 35)]


def test_brightness_range(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    brightness = analyse(std_clip[0], tmp_path)["quality"]["brightness"]
    assert brightness["min"] == pytest.approx(0.0, abs=0.01)
    assert 0.3 < brightness["mean"] < brightness["max"] <= 1.0


def test_white_is_bright(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    path = make_clip(tmp_path_factory, "white", [S("flash", 10)])
    brightness = analyse(path, tmp_path)["quality"]["brightness"]
    assert brightness["min"] == pytest.approx(1.0, abs=0.02)
