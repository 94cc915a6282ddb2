"""letterbox and pillarbox: bars added with FFmpeg's pad filter, the active picture per scene when the
framing changes, and the same rectangle as the FFmpeg command line's cropdetect."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.processing.conftest import analyse
from tests.processing.cues.clips import full_frame, run_ffmpeg
from tests.support.videogen import write_frames
from vidpulse.processing.analyzers.cues.letterbox import LetterboxDetector, SceneFraming
from vidpulse.processing.cues import Cue
from vidpulse.processing.decode import Frame
from vidpulse.processing.features import Measured, Stats
from vidpulse.processing.report import Scene

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


def _measured(index: int, luma: np.ndarray) -> Measured:
    frame = Frame(index, index * FRAME, luma, None)
    return Measured(frame, Stats(0.5, 0.0, 0.0, 100.0, black=False), None, luma[::2, ::2])


def test_a_live_stream_sees_the_scenes_as_a_file_does() -> None:
    """SceneFraming (fed each frame once its scene is final, keeping a few numbers a scene) finds the
    cues LetterboxDetector (every frame's box, the scenes at the end) finds; its cue in progress is the
    scene's so far, joined to the one before when the framing goes on."""
    rng = np.random.default_rng(1)
    frames = []
    for index in range(120):
        luma = rng.integers(60, 200, size=(90, 160), dtype=np.uint8)
        if index < 60:
            luma[:12], luma[-12:] = 16, 16  # letterboxed, two scenes alike
        elif index < 90:
            luma[:, :20], luma[:, -20:] = 16, 16  # pillarboxed
            if index == 70:
                luma[:, :20] = 90  # one frame lights a bar: the scene has none on that side
        frames.append(_measured(index, luma))
    scenes = [Scene(0, 0, 29, 0.0, 1.2, None), Scene(1, 30, 59, 1.2, 2.4, None), Scene(2, 60, 89, 2.4, 3.6, None),
              Scene(3, 90, 119, 3.6, 4.8, None)]
    whole = LetterboxDetector()
    live = SceneFraming(FPS, (320, 180))
    in_progress = []
    for measured in frames:
        whole.update(measured)
        live.update(measured, new_scene=measured.frame.index in (30, 60, 90))
        in_progress.append(live.ongoing())
    expected = whole.result(scenes, (320, 180))
    assert [(c.type, c.start_s, c.end_s) for c in expected] == [("letterbox", 0.0, 2.4)]
    assert live.finish(4.8) == expected
    assert in_progress[45]["letterbox"] == Cue("letterbox", 0.0, pytest.approx(46 * FRAME), 1.0,
                                               expected[0].detail)
    assert in_progress[65]["pillarbox"].confidence == 1.0
    assert "pillarbox" not in in_progress[75]  # the lit frame ended it
    assert in_progress[100] == {}
