from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.processing.conftest import analyse, make_clip
from tests.support.videogen import Segment as S
from vidpulse.processing.analyzers.motion import moving_boxes


def test_moving_box_makes_one_segment_with_a_box(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    path = make_clip(tmp_path_factory, "bigbox", [S("still", 10, 1), S("bigbox", 30), S("frozen", 10)])
    # A flat box changes only along its leading and trailing edges: about 2 % of the pixels.
    motion = analyse(path, tmp_path, motion_threshold=0.01)["motion"]
    (segment,) = motion["segments"]
    assert segment["start_s"] == pytest.approx(0.44, abs=0.05)  # the frame after the still one
    assert segment["end_s"] == pytest.approx(1.6, abs=0.05)
    assert 0 < segment["peak"] <= 1
    _x, y, w, h = segment["box"]
    # The box crosses the whole width in the middle half of the height.
    assert w > 0.9 and 0.2 < y < 0.3 and 0.45 < h < 0.6
    assert 0 < motion["mean"] < segment["peak"]


def test_still_video_has_no_motion(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    motion = analyse(make_clip(tmp_path_factory, "still", [S("still", 20, 1)]), tmp_path)["motion"]
    assert motion == {"mean": 0.0, "segments": []}


def test_moving_boxes_finds_separate_regions() -> None:
    changed = np.zeros((120, 160), np.uint8)
    changed[10:30, 10:40] = 255
    changed[80:110, 100:150] = 255
    changed[60, 60] = 255  # noise
    assert moving_boxes(changed) == [(96, 76, 58, 38), (6, 6, 38, 28)]

    assert moving_boxes(None) == []
