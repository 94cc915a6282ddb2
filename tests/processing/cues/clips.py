"""Clips for the cue tests: FFmpeg's own test sources (bars, patterns) as RGB frames, spliced with
the generated segments of tests/support/videogen.py, and files written by the FFmpeg command line."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from tests.support.videogen import Segment, segment_frames


def ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        import pytest

        pytest.skip("the ffmpeg command line is not installed")
    return found


def lavfi_frames(source: str, frames: int, size: tuple[int, int], fps: int = 25) -> Iterator[np.ndarray]:
    """`frames` RGB frames of an FFmpeg lavfi source such as `smptebars`, or `smptebars,FILTERS`."""
    width, height = size
    name, _, filters = source.partition(",")
    graph = f"{name}=s={width}x{height}:r={fps}" + (f",{filters}" if filters else "")
    raw = subprocess.run(
        [ffmpeg(), "-v", "error", "-f", "lavfi", "-i", graph,
         "-frames:v", str(frames), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout
    yield from np.frombuffer(raw, np.uint8).reshape(frames, height, width, 3)


def spliced(parts: Sequence[tuple[str, int] | Segment], size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Frames of lavfi sources (`(source, frames)`) and generated segments, in order."""
    for part in parts:
        if isinstance(part, Segment):
            yield from segment_frames([part], size)
        else:
            yield from lavfi_frames(part[0], part[1], size)


def full_frame(frames: int, size: tuple[int, int], seed: int) -> Iterator[np.ndarray]:
    """A scene of 16-pixel colour blocks drifting 1 px a frame, picture to every edge (videogen's
    scenes show the black edge of their canvas as they drift, a bar in all but name)."""
    width, height = size
    rng = np.random.default_rng(seed)
    blocks = rng.integers(24, 256, size=((height + frames) // 16 + 1, (width + frames) // 16 + 1, 3), dtype=np.uint8)
    texture = np.kron(blocks, np.ones((16, 16, 1), dtype=np.uint8))
    for i in range(frames):
        yield np.ascontiguousarray(texture[i : i + height, i : i + width])


def with_sound(video: Path, sound: np.ndarray, out: Path, rate: int = 48000) -> Path:
    """`video` with `sound` (float32, channels x samples) as its AAC track, muxed by the FFmpeg
    command line."""
    raw = out.with_suffix(".f32")
    raw.write_bytes(np.ascontiguousarray(sound.T, dtype=np.float32).tobytes())
    run_ffmpeg("-i", video, "-f", "f32le", "-ar", str(rate), "-ac", str(sound.shape[0]), "-i", raw, "-c:v", "copy",
               "-c:a", "aac", "-b:a", "256k", "-shortest", out)
    return out


def run_ffmpeg(*args: str | Path) -> str:
    """Run the FFmpeg command line; its log (stderr)."""
    done = subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-y", *map(str, args)], capture_output=True,
                          text=True, check=True)
    return done.stderr
