"""interlaced: material woven with FFmpeg's interlace and tinterlace (both field orders), flagged or
not, progressive material flagged interlaced, and a switch from progressive to interlaced and
back; each against the FFmpeg command line's own idet."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.processing.conftest import analyse
from tests.processing.cues.clips import run_ffmpeg

FRAME = 1 / 25
SOURCE = "testsrc=s=720x576:r=50"  # moving: a scrolling gradient and a running clock
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p"]


def _flags(order: str | None) -> list[str]:
    """Encoder options that code the pictures as fields and say so (`order`), or as frames."""
    return [] if order is None else ["-flags", "+ildct+ilme", "-x264opts", f"{order}=1"]


def _make(path: Path, weave: str | None, flag: str | None, seconds: float = 3) -> Path:
    """`weave` (a filter making 25 interlaced pictures a second of the 50 fps source, or None:
    every other picture, progressive), coded as `flag` says."""
    run_ffmpeg("-f", "lavfi", "-i", SOURCE, "-t", str(seconds), "-vf", weave or "framestep=2", *X264, *_flags(flag),
               path)
    return path


def _cli_idet(path: Path) -> str:
    """The majority of the FFmpeg command line's multi-frame idet verdicts."""
    log = run_ffmpeg("-i", path, "-vf", "idet", "-f", "null", "-")
    counts = re.search(r"Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+)", log)
    assert counts is not None, log
    tff, bff, progressive = map(int, counts.groups())
    return max((tff, "tff"), (bff, "bff"), (progressive, "progressive"))[1]


def _interlaced(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["cues"] if c["type"] == "interlaced"]


@pytest.mark.parametrize(
    ("weave", "order"),
    [("interlace=scan=tff", "tff"), ("interlace=scan=bff", "bff"),
     ("tinterlace=mode=interleave_top", "tff"), ("tinterlace=mode=interleave_bottom", "bff")],
)
def test_woven_fields_flagged_as_they_are(tmp_path: Path, weave: str, order: str) -> None:
    path = _make(tmp_path / "woven.mp4", weave, order)
    assert _cli_idet(path) == order
    (cue,) = _interlaced(analyse(path, tmp_path / "out"))
    assert (cue["start_s"], cue["end_s"]) == pytest.approx((0.0, 3.0), abs=FRAME)
    assert cue["detail"] == {"field_order": order, "flagged": order, "flag_disagrees": False}
    assert cue["confidence"] > 0.8


@pytest.mark.parametrize("order", ["tff", "bff"])
def test_woven_fields_flagged_progressive_disagree(tmp_path: Path, order: str) -> None:
    path = _make(tmp_path / "unflagged.mp4", f"interlace=scan={order}", None)
    assert _cli_idet(path) == order
    (cue,) = _interlaced(analyse(path, tmp_path / "out"))
    assert cue["detail"] == {"field_order": order, "flagged": "progressive", "flag_disagrees": True}


def test_woven_fields_flagged_the_other_order_disagree(tmp_path: Path) -> None:
    path = _make(tmp_path / "swapped.mp4", "interlace=scan=tff", "bff")
    (cue,) = _interlaced(analyse(path, tmp_path / "out"))
    assert cue["detail"] == {"field_order": "tff", "flagged": "bff", "flag_disagrees": True}


def test_progressive_flagged_interlaced_has_no_combing(tmp_path: Path) -> None:
    path = _make(tmp_path / "flagged.mp4", None, "tff")
    assert _cli_idet(path) == "progressive"
    assert _interlaced(analyse(path, tmp_path / "out")) == []


def test_progressive_then_interlaced_then_progressive(tmp_path: Path) -> None:
    parts = [_make(tmp_path / "a.mp4", None, None, 1), _make(tmp_path / "b.mp4", "interlace=scan=tff", None, 2),
             _make(tmp_path / "c.mp4", None, None, 1)]
    path = tmp_path / "switch.mp4"
    inputs = [arg for part in parts for arg in ("-i", str(part))]
    run_ffmpeg(*inputs, "-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0", *X264, path)
    (cue,) = _interlaced(analyse(path, tmp_path / "out"))
    assert (cue["start_s"], cue["end_s"]) == pytest.approx((1.0, 3.0), abs=FRAME * 1.01)
    assert cue["detail"]["field_order"] == "tff"
