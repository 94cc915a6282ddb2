"""letterbox and pillarbox: bars added with FFmpeg's pad filter, the active picture per scene when the
framing changes, and the same rectangle as the FFmpeg command line's cropdetect."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from tests.processing.conftest import analyse
from tests.processing.cues.clips import full_frame, run_ffmpeg
from tests.support.videogen import write_frames

FPS = 25
FRAME = 1 / FPS
SIZE = (640, 360)


def _padded(tmp_path: Path, name: str, size: tuple[int, int], pad: str | None, seed: int) -> Path:
    """Two scenes at `size`, padded to SIZE with `pad` (x:y), or as they are."""
    source = tmp_path / f"{name}-source.mp4"
    write_frames(source, itertools.chain(full_frame(30, size, seed), full_frame(30, size, seed + 1)), size=size,
                 fps=FPS)
    if pad is None:
        return source
    out = tmp_path / f"{name}.mp4"
    run_ffmpeg("-i", source, "-vf", f"pad={SIZE[0]}:{SIZE[1]}:{pad}:black", "-c:v", "libx264", "-preset",
               "ultrafast", "-crf", "18", out)
    return out


def _concat(tmp_path: Path, parts: list[Path]) -> Path:
    out = tmp_path / "framings.mp4"
    inputs = [arg for part in parts for arg in ("-i", str(part))]
    streams = "".join(f"[{i}:v]" for i in range(len(parts)))
    run_ffmpeg(*inputs, "-filter_complex", f"{streams}concat=n={len(parts)}:v=1:a=0", "-c:v", "libx264",
               "-preset", "ultrafast", "-crf", "18", out)
    return out


def _boxes(report: dict[str, Any]) -> list[tuple[str, float, float, dict[str, int]]]:
    return [(c["type"], c["start_s"], c["end_s"], c["detail"]["active"]) for c in report["cues"]
            if c["type"] in ("letterbox", "pillarbox")]


def _cropdetect(path: Path) -> dict[str, int]:
    """The FFmpeg command line's cropdetect over the whole clip (its last, widest, box)."""
    log = run_ffmpeg("-i", path, "-vf", "cropdetect=limit=24:round=2:reset=0", "-f", "null", "-")
    w, h, x, y = map(int, re.findall(r"crop=(\d+):(\d+):(\d+):(\d+)", log)[-1])
    return {"x": x, "y": y, "width": w, "height": h}


def test_letterbox_then_full_frame_then_pillarbox(tmp_path: Path) -> None:
    # 2.39:1 in 16:9, then 16:9 itself, then 4:3 in 16:9: a cue per framing, per scene boundary.
    parts = [_padded(tmp_path, "scope", (640, 268), "0:46", 1), _padded(tmp_path, "full", SIZE, None, 3),
             _padded(tmp_path, "four-three", (480, 360), "80:0", 5)]
    boxes = _boxes(analyse(_concat(tmp_path, parts), tmp_path / "out"))
    assert [b[0] for b in boxes] == ["letterbox", "pillarbox"], boxes
    (_, start, end, active), (_, start2, end2, active2) = boxes
    assert (start, end) == pytest.approx((0.0, 60 * FRAME), abs=FRAME / 2)
    assert (start2, end2) == pytest.approx((120 * FRAME, 180 * FRAME), abs=FRAME / 2)
    # Within one analysis pixel (2 px here: 640 px analysed at 320).
    for got, want in ((active, {"x": 0, "y": 46, "width": 640, "height": 268}),
                      (active2, {"x": 80, "y": 0, "width": 480, "height": 360})):
        assert all(abs(got[k] - want[k]) <= 2 for k in want), (got, want)


@pytest.mark.parametrize(("size", "pad"), [((640, 268), "0:46"), ((480, 360), "80:0"), ((560, 300), "40:30")])
def test_active_picture_agrees_with_cropdetect(tmp_path: Path, size: tuple[int, int], pad: str) -> None:
    path = _padded(tmp_path, "boxed", size, pad, 1)
    boxes = _boxes(analyse(path, tmp_path / "out"))
    assert boxes, "no cue"
    expected = _cropdetect(path)
    for _, start, end, active in boxes:
        assert (start, end) == pytest.approx((0.0, 60 * FRAME), abs=FRAME / 2)
        assert all(abs(active[k] - expected[k]) <= 2 for k in expected), (active, expected)
    # Both bars at once (windowbox) are both cues, over the same picture.
    assert [b[0] for b in boxes] == ["letterbox", "pillarbox"] if pad == "40:30" else len(boxes) == 1
