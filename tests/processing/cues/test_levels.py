"""out_of_range: luma and chroma pushed outside the video range with FFmpeg's lutyuv on a known
span, found on its frames with the worst values; none on a test pattern's PLUGE."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.processing.conftest import analyse
from tests.processing.cues.clips import full_frame, run_ffmpeg, spliced
from tests.support.videogen import write_frames

FPS = 25
FRAME = 1 / FPS
SIZE = (640, 360)


def _pushed(tmp_path: Path, lut: str) -> Path:
    """Three scenes; `lut` applied to the middle one (frames 30-59) only."""
    source = tmp_path / "source.mp4"
    scenes = itertools.chain(*(full_frame(30, SIZE, seed) for seed in (1, 2, 3)))
    write_frames(source, scenes, size=SIZE, fps=FPS)
    out = tmp_path / "pushed.mp4"
    run_ffmpeg("-i", source, "-vf", f"lutyuv={lut}:enable='between(n,30,59)'", "-c:v", "libx264", "-preset",
               "ultrafast", "-crf", "18", out)
    return out


def _out_of_range(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["cues"] if c["type"] == "out_of_range"]


@pytest.mark.parametrize(
    ("lut", "check"),
    [
        ("y=clip(val*1.3\\,0\\,255)", lambda d: d["luma_max"] > 245 and d["luma_share"] > 0.1),
        ("y=clip(val-60\\,0\\,255)", lambda d: d["luma_min"] < 5 and d["luma_share"] > 0.03),
        ("u=clip((val-128)*1.8+128\\,0\\,255):v=clip((val-128)*1.8+128\\,0\\,255)",
         lambda d: d["chroma_min"] < 10 and d["chroma_max"] > 245 and d["chroma_share"] > 0.05),
    ],
    ids=["superwhite", "subblack", "chroma"],
)
def test_a_pushed_span_is_out_of_range(tmp_path: Path, lut: str, check: Any) -> None:
    (cue,) = _out_of_range(analyse(_pushed(tmp_path, lut), tmp_path / "out"))
    assert (cue["start_s"], cue["end_s"]) == pytest.approx((30 * FRAME, 60 * FRAME), abs=FRAME / 2)
    assert check(cue["detail"]), cue["detail"]
    assert cue["confidence"] > 0.5


def test_no_cue_within_range_nor_on_bars(tmp_path: Path) -> None:
    assert _out_of_range(analyse(_pushed(tmp_path, "y=val"), tmp_path / "plain")) == []
    # SMPTE bars' PLUGE and the RP 219 ramp leave the range on purpose.
    path = tmp_path / "bars.mp4"
    write_frames(path, spliced([("smptehdbars", 40), ("smptebars", 40)], SIZE), size=SIZE, fps=FPS)
    report = analyse(path, tmp_path / "bars")
    assert _out_of_range(report) == []
    assert [c["type"] for c in report["cues"] if c["type"] != "frozen"] == ["color_bars", "color_bars"]
