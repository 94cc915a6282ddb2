"""Analysis benchmark: run by hand (`make bench` or the command below), never by the tests.

    .venv/bin/python bench/analysis.py [--seconds 60] [--scenedetect-python /work/bench-venv/bin/python]

In one run it generates a 1280x720 30 fps H.264 test video with known cuts, fades, a
dissolve and flashes (cached in bench/out/), then reports:
1. analysis fps against decode-only fps of the same file with the same decoder;
2. analysis fps against PySceneDetect's ContentDetector and AdaptiveDetector, and each tool's
   cuts against the truth;
3. the same with `render` on;
4. peak RSS of an analysis process for 720p and 4K input, at two lengths each.
Prints a Markdown table for docs/benchmarks.md.

PySceneDetect (`scenedetect-headless`, which uses opencv-python-headless like the project)
runs in a subprocess with `--scenedetect-python`, so it may live in its own venv.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processing import AnalysisOptions, analyze  # noqa: E402
from processing.decode import Decoder, decoded_frames, open_video  # noqa: E402

OUT = ROOT / "bench" / "out"
FPS = 30


# Test video ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shot:
    """One shot: a textured picture that pans `pan` px a frame, optionally with a moving box."""

    seconds: float
    seed: int
    pan: int = 2
    box: bool = False
    flash_at: float | None = None  # seconds into the shot: one white frame
    enter: str = "hard"  # how the shot begins: hard, fade (out of black after a fade out), dissolve


# One minute: hard cuts, a fade through black, a dissolve, a fast pan, a large fast object and
# two flashes, none of which (but the transitions) is a cut.
PATTERN = [
    Shot(4.0, 1),
    Shot(4.0, 2, box=True, flash_at=2.0),
    Shot(4.0, 3, pan=24),
    Shot(4.0, 4, enter="fade"),
    Shot(4.0, 5, enter="dissolve", box=True),
    Shot(5.0, 6, flash_at=1.5),
]
FADE_S, BLACK_S, DISSOLVE_S = 0.6, 0.5, 0.5


class Film:
    """The test video as a function of the frame number, with its truth computed up front."""

    def __init__(self, seconds: float, size: tuple[int, int]) -> None:
        self.size = size
        self.shots: list[Shot] = []
        total = 0.0
        while total < seconds - 0.5:
            for shot in PATTERN:
                length = min(shot.seconds, seconds - total)
                if length < 0.5:
                    break
                self.shots.append(Shot(length, shot.seed + len(self.shots), shot.pan, shot.box, shot.flash_at, shot.enter))
                total += length
        self.pieces: list[tuple[int, Callable[[int], np.ndarray]]] = []
        self.truth: list[tuple[int, str]] = []
        self._plan()
        # Transitions add frames: shorten the last shot to land on the length asked for.
        excess = self.frames - round(seconds * FPS)
        if excess > 0:
            count, make = self.pieces[-1]
            self.pieces[-1] = (max(1, count - excess), make)

    @property
    def frames(self) -> int:
        return sum(n for n, _ in self.pieces)

    def __iter__(self) -> Iterator[np.ndarray]:
        for n, make in self.pieces:
            for i in range(n):
                yield make(i)

    def _plan(self) -> None:
        black = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        fade, dark, dissolve = round(FADE_S * FPS), round(BLACK_S * FPS), round(DISSOLVE_S * FPS)
        for number, shot in enumerate(self.shots):
            n = round(shot.seconds * FPS)
            picture = self._picture(shot, n)
            if number:
                before = self.shots[number - 1]
                last = self._picture(before, round(before.seconds * FPS))(round(before.seconds * FPS) - 1)
                first = picture(0)
                if shot.enter == "fade":
                    self._add(fade, lambda i, a=last: _blend(a, black, (i + 1) / fade))
                    self.truth.append((self.frames, "fade"))
                    self._add(dark, lambda i: black)
                    self.truth.append((self.frames, "fade"))
                    self._add(fade, lambda i, b=first: _blend(black, b, (i + 1) / (fade + 1)))
                elif shot.enter == "dissolve":
                    self.truth.append((self.frames + dissolve // 2, "fade"))
                    self._add(dissolve, lambda i, a=last, b=first: _blend(a, b, (i + 1) / (dissolve + 1)))
                else:
                    self.truth.append((self.frames, "hard"))
            self._add(n, picture)

    def _add(self, count: int, make: Callable[[int], np.ndarray]) -> None:
        self.pieces.append((count, make))

    def _picture(self, shot: Shot, n: int) -> Callable[[int], np.ndarray]:
        width, height = self.size
        canvas = _texture(shot.seed, width + shot.pan * n + 8, height)
        flash = None if shot.flash_at is None else round(shot.flash_at * FPS)
        side = height // 3

        def make(i: int) -> np.ndarray:
            if i == flash:
                return np.full((height, width, 3), 255, np.uint8)
            frame = canvas[:, i * shot.pan : i * shot.pan + width].copy()
            if shot.box:
                x = int((width - side) * i / max(1, n - 1))
                frame[height // 3 : height // 3 + side, x : x + side] = (230, 200, 40)
            return frame

        return make


def _texture(seed: int, width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    block = 40
    small = rng.integers(0, 256, size=(height // block + 2, width // block + 2, 3), dtype=np.uint8)
    big = cv2.resize(small, (small.shape[1] * block, small.shape[0] * block), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(cv2.GaussianBlur(big, (0, 0), 2)[:height, :width])


def _blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return cv2.addWeighted(a, 1 - t, b, t, 0)


def make_video(path: Path, seconds: float, size: tuple[int, int]) -> Film:
    """Write the test video unless it is already there; return its description."""
    film = Film(seconds, size)
    if path.exists():
        return film
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for rgb in film:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.rename(path)
    return film
