"""Test videos with known content, written by the tests themselves (never committed).

A video is a list of segments; `write_video` encodes them with PyAV (libx264, yuv420p) and
returns the ground truth: the frames where hard cuts happen and the black and frozen spans.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class Segment:
    """`kind` is one of: scene (textured, slowly drifting), black, frozen (the previous
    frame held still, or a still texture when it comes first), box (a white box moving
    over a dark background)."""

    kind: str
    frames: int
    seed: int = 0


@dataclass(frozen=True)
class Truth:
    fps: int
    frames: int
    cuts: list[int] = field(default_factory=list)
    black: list[tuple[int, int]] = field(default_factory=list)  # [start, end) frames
    frozen: list[tuple[int, int]] = field(default_factory=list)


def _texture(seed: int, width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    big = np.kron(small, np.ones((16, 16, 1), dtype=np.uint8))
    canvas = np.zeros((height + 64, width + 64, 3), dtype=np.uint8)
    h, w = min(big.shape[0], height + 64), min(big.shape[1], width + 64)
    canvas[:h, :w] = big[:h, :w]
    return canvas


def _segment_frames(
    seg: Segment, width: int, height: int, previous: np.ndarray | None
) -> Iterator[np.ndarray]:
    if seg.kind == "frozen" and previous is not None:
        for _ in range(seg.frames):
            yield previous
    elif seg.kind == "black":
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        for _ in range(seg.frames):
            yield frame
    elif seg.kind in ("scene", "frozen"):
        tex = _texture(seg.seed, width, height)
        for i in range(seg.frames):
            shift = 0 if seg.kind == "frozen" else i % 32
            yield np.ascontiguousarray(tex[shift : shift + height, shift : shift + width])
    elif seg.kind == "box":
        size = max(8, height // 6)
        for i in range(seg.frames):
            frame = np.full((height, width, 3), 40, dtype=np.uint8)
            x = int((width - size) * (i / max(1, seg.frames - 1)))
            y = (height - size) // 2
            frame[y : y + size, x : x + size] = 230
            yield frame
    else:
        raise ValueError(f"unknown segment kind {seg.kind!r}")


def truth_of(segments: Sequence[Segment], fps: int) -> Truth:
    cuts: list[int] = []
    black: list[tuple[int, int]] = []
    frozen: list[tuple[int, int]] = []
    start = 0
    for i, seg in enumerate(segments):
        if i > 0 and seg.kind != "frozen":
            cuts.append(start)
        span = (start, start + seg.frames)
        if seg.kind == "black":
            black.append(span)
        elif seg.kind == "frozen":
            frozen.append(span)
        start += seg.frames
    return Truth(fps=fps, frames=start, cuts=cuts, black=black, frozen=frozen)


def write_video(
    path: Path,
    segments: Sequence[Segment],
    *,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    codec: str = "libx264",
) -> Truth:
    width, height = size
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        previous: np.ndarray | None = None
        for seg in segments:
            for rgb in _segment_frames(seg, width, height, previous):
                previous = rgb
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return truth_of(segments, fps)


def standard_clip(path: Path, *, seconds_per_scene: float = 1.0, fps: int = 25) -> Truth:
    """Three scenes, a black gap and a frozen span: the clip most server tests use."""
    n = int(seconds_per_scene * fps)
    return write_video(
        path,
        [
            Segment("scene", n, seed=1),
            Segment("black", n // 2),
            Segment("scene", n, seed=2),
            Segment("frozen", n),
            Segment("scene", n, seed=3),
        ],
        fps=fps,
    )
