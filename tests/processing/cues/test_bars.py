"""color_bars: FFmpeg's SMPTE, SMPTE HD and EBU (75 % and 100 %) bars before and inside a
programme, found on their exact frames, and named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.processing.conftest import analyse
from tests.processing.cues.clips import spliced
from tests.support.videogen import Segment, write_frames

FPS = 25
SIZE = (640, 360)
FRAME = 1 / FPS


def _bars(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["cues"] if c["type"] == "color_bars"]


@pytest.mark.parametrize(
    ("source", "pattern", "amplitude"),
    [("smptebars", "smpte", 75), ("smptehdbars", "smpte_hd", 75), ("pal75bars", "ebu", 75),
     ("pal100bars", "ebu", 100)],
)
def test_bars_before_the_programme(tmp_path: Path, source: str, pattern: str, amplitude: int) -> None:
    path = tmp_path / f"{source}.mp4"
    write_frames(path, spliced([(source, 50), Segment("scene", 30, 1), Segment("scene", 30, 2)], SIZE),
                 fps=FPS, size=SIZE)
    (cue,) = _bars(analyse(path, tmp_path / "out"))
    assert cue["start_s"] == pytest.approx(0.0, abs=FRAME)
    assert cue["end_s"] == pytest.approx(2.0, abs=FRAME)
    assert cue["detail"]["pattern"] == pattern
    assert cue["detail"]["amplitude_percent"] == amplitude
    assert cue["confidence"] > 0.8


def test_bars_inside_the_programme(tmp_path: Path) -> None:
    # Bars entered and left by a cut, not on a colour-copy frame (every 4th): still frame-exact.
    path = tmp_path / "inside.mp4"
    write_frames(path, spliced([Segment("scene", 31, 1), ("smptebars", 63), Segment("scene", 30, 2)], SIZE),
                 fps=FPS, size=SIZE)
    (cue,) = _bars(analyse(path, tmp_path / "out"))
    assert cue["start_s"] == pytest.approx(31 * FRAME, abs=FRAME / 2)
    assert cue["end_s"] == pytest.approx(94 * FRAME, abs=FRAME / 2)


def test_a_grey_staircase_is_not_colour_bars(tmp_path: Path) -> None:
    path = tmp_path / "grey.mp4"
    write_frames(path, spliced([("smptebars,hue=s=0", 50), Segment("scene", 30, 1)], SIZE), fps=FPS, size=SIZE)
    assert _bars(analyse(path, tmp_path / "out")) == []
