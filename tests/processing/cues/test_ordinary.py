"""No false cue on ordinary material: every kind of generated segment, in 4:3 and 16:9, with and
without sound, gives only the cues of today's segments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.processing.conftest import analyse
from tests.support.videogen import Segment, Truth, tone, write_video, write_video_with_audio

TODAYS = {"black", "frozen", "blurry", "silence", "clipping"}
EVERY_KIND = [
    Segment("scene", 30, 1), Segment("box", 30), Segment("fadeout", 15, 1), Segment("black", 10),
    Segment("fadein", 15, 2), Segment("dissolve", 20, 2), Segment("flash", 3), Segment("pan", 20, 3),
    Segment("bigbox", 25), Segment("blur", 20, 4), Segment("still", 20, 5), Segment("frozen", 20),
    Segment("scene", 30, 6),
]


def _new_types(report: dict) -> set[str]:
    return {c["type"] for c in report["cues"]} - TODAYS


def test_standard_clip(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    assert _new_types(analyse(std_clip[0], tmp_path)) == set()


@pytest.mark.parametrize("size", [(320, 240), (640, 360)])
def test_every_kind_of_segment(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "kinds.mp4"
    write_video(path, EVERY_KIND, size=size)
    assert _new_types(analyse(path, tmp_path / "out")) == set()


def test_with_stereo_sound(tmp_path: Path) -> None:
    frames = sum(s.frames for s in EVERY_KIND)
    rng = np.random.default_rng(1)
    # Music-like: a tone in both channels and noise of its own in each (a wide, in-phase mix).
    sound = tone(-20, frames / 25) + rng.normal(0, 0.02, (2, round(frames / 25 * 48000))).astype(np.float32)
    path = tmp_path / "sound.mp4"
    write_video_with_audio(path, EVERY_KIND, sound, size=(640, 360))
    assert _new_types(analyse(path, tmp_path / "out")) == set()
