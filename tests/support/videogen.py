"""Test videos with known content, written by the tests themselves (never committed).

A video is a list of segments; `write_video` encodes them with PyAV (libx264, yuv420p) and
returns the ground truth: the frames where hard cuts happen and the black and frozen spans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np


@dataclass(frozen=True)
class Segment:
    """`kind` is one of: scene (textured, slowly drifting), black, frozen (the previous
    frame held still, or a still texture when it comes first), box (a white box moving
    over a dark background).

    Kinds for the analysis tests (`truth_of` knows nothing of them: their tests state the
    expected result): fadeout / fadein (a still texture to or from black), dissolve (texture
    `seed` blending into texture `seed + 1`), flash (white frames), pan (a fast horizontal
    pan), bigbox (a box half the frame tall crossing it), blur (a blurred drifting texture),
    still (texture `seed` held still, whatever came before).

    A scene drifts by one pixel a frame and jumps back after 32 frames: keep scenes at most
    32 frames long where a jump would read as a cut."""

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


def _drifting(tex: np.ndarray, frames: int, width: int, height: int) -> Iterator[np.ndarray]:
    """A steady diagonal drift of 1 px a frame over the texture tiled as far as needed: never a
    jump back, so a long scene holds no false cut."""
    reps_y = -(-(height + frames) // tex.shape[0])
    reps_x = -(-(width + frames) // tex.shape[1])
    tiled = np.tile(tex, (reps_y, reps_x, 1)) if reps_y > 1 or reps_x > 1 else tex
    for i in range(frames):
        yield np.ascontiguousarray(tiled[i : i + height, i : i + width])


def _segment_frames(seg: Segment, width: int, height: int, previous: np.ndarray | None) -> Iterator[np.ndarray]:
    if seg.kind == "frozen" and previous is not None:
        for _ in range(seg.frames):
            yield previous
    elif seg.kind == "black":
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        for _ in range(seg.frames):
            yield frame
    elif seg.kind == "frozen":
        still = np.ascontiguousarray(_texture(seg.seed, width, height)[:height, :width])
        for _ in range(seg.frames):
            yield still
    elif seg.kind == "scene":
        yield from _drifting(_texture(seg.seed, width, height), seg.frames, width, height)
    elif seg.kind == "box":
        size = max(8, height // 6)
        for i in range(seg.frames):
            frame = np.full((height, width, 3), 40, dtype=np.uint8)
            x = int((width - size) * (i / max(1, seg.frames - 1)))
            y = (height - size) // 2
            frame[y : y + size, x : x + size] = 230
            yield frame
    elif seg.kind in _EXTRA_KINDS:
        yield from _EXTRA_KINDS[seg.kind](seg, width, height)
    else:
        raise ValueError(f"unknown segment kind {seg.kind!r}")


def _fade(seg: Segment, width: int, height: int, rising: bool, steps: int | None = None) -> Iterator[np.ndarray]:
    """`steps` frames of fading (all of them by default; 0: a still picture at full level)."""
    still = _texture(seg.seed, width, height)[:height, :width].astype(np.float32)
    steps = seg.frames if steps is None else steps
    for i in range(seg.frames):
        # Fading out ends on a black frame; fading in starts one step above black.
        done = min(1.0, (i + 1) / steps) if steps else 1.0
        level = done if rising else 1 - done
        yield (still * level).astype(np.uint8)


def _dissolve(seg: Segment, width: int, height: int) -> Iterator[np.ndarray]:
    a = _texture(seg.seed, width, height)[:height, :width].astype(np.float32)
    b = _texture(seg.seed + 1, width, height)[:height, :width].astype(np.float32)
    for i in range(seg.frames):
        mix = (i + 1) / (seg.frames + 1)
        yield (a * (1 - mix) + b * mix).astype(np.uint8)


def _flash(seg: Segment, width: int, height: int) -> Iterator[np.ndarray]:
    white = np.full((height, width, 3), 255, dtype=np.uint8)
    for _ in range(seg.frames):
        yield white


def _pan(seg: Segment, width: int, height: int) -> Iterator[np.ndarray]:
    # A wide smooth-ish picture sliding 12 px a frame: a fast camera pan.
    step = 12
    wide = _texture(seg.seed, width + step * seg.frames, height)
    wide = cv2.GaussianBlur(wide, (0, 0), 3)
    for i in range(seg.frames):
        yield np.ascontiguousarray(wide[:height, i * step : i * step + width])


def _bigbox(seg: Segment, width: int, height: int) -> Iterator[np.ndarray]:
    # A box half the frame tall crossing the frame: a large moving object.
    size = height // 2
    for i in range(seg.frames):
        frame = np.full((height, width, 3), 60, dtype=np.uint8)
        x = int((width - size) * (i / max(1, seg.frames - 1)))
        frame[height // 4 : height // 4 + size, x : x + size] = (200, 180, 40)
        yield frame


def _blur(seg: Segment, width: int, height: int) -> Iterator[np.ndarray]:
    yield from _drifting(cv2.GaussianBlur(_texture(seg.seed, width, height), (0, 0), 8), seg.frames, width, height)


_EXTRA_KINDS: dict[str, Callable[[Segment, int, int], Iterator[np.ndarray]]] = {
    "fadeout": lambda seg, w, h: _fade(seg, w, h, rising=False),
    "fadein": lambda seg, w, h: _fade(seg, w, h, rising=True),
    "dissolve": _dissolve,
    "flash": _flash,
    "pan": _pan,
    "bigbox": _bigbox,
    "blur": _blur,
    "still": lambda seg, w, h: _fade(seg, w, h, rising=True, steps=0),
}


@dataclass(frozen=True)
class Clip:
    """A generated video and what is known to be in it."""

    path: Path
    truth: Truth


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
    write_frames(path, _all_frames(segments, width, height), fps=fps, size=size, codec=codec)
    return truth_of(segments, fps)


def segment_frames(segments: Sequence[Segment], size: tuple[int, int] = (320, 240)) -> Iterator[np.ndarray]:
    """The RGB frames of `segments`, for `write_frames` with another codec or container."""
    return _all_frames(segments, *size)


def _all_frames(segments: Sequence[Segment], width: int, height: int) -> Iterator[np.ndarray]:
    previous: np.ndarray | None = None
    for seg in segments:
        for rgb in _segment_frames(seg, width, height, previous):
            previous = rgb
            yield rgb


def write_frames(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    codec: str = "libx264",
    rotation: int = 0,
    pix_fmt: str = "yuv420p",
) -> int:
    """Encode RGB frames; `rotation` stores a display matrix (counter-clockwise degrees, as
    PyAV's `set_display_rotation`). Returns the number of frames written."""
    width, height = size
    count = 0
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = {"preset": "ultrafast", "crf": "18"} if codec == "libx264" else {}
        if rotation:
            stream.set_display_rotation(rotation)
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
    return count


def write_audio(path: Path, seconds: float = 1.0, rate: int = 44100) -> None:
    """An audio-only file (a sine tone in AAC/M4A): a valid media file with no video."""
    samples = int(seconds * rate)
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        for start in range(0, samples, 1024):
            chunk = tone[start : start + 1024].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


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


def tone(dbfs: float, seconds: float, *, rate: int = 48000, channels: int = 2, hz: float = 1000.0) -> np.ndarray:
    """A sine of peak level `dbfs` on every channel, float32 (channels, samples). A stereo 1 kHz
    sine at -23 dBFS measures -23 LUFS (EBU Tech 3341, case 1)."""
    t = np.arange(round(seconds * rate)) / rate
    wave = (10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.tile(wave, (channels, 1))


def silence(seconds: float, *, rate: int = 48000, channels: int = 2) -> np.ndarray:
    return np.zeros((channels, round(seconds * rate)), np.float32)


def write_video_with_audio(
    path: Path,
    segments: Sequence[Segment],
    sound: np.ndarray,
    *,
    rate: int = 48000,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    codec: str = "aac",
) -> Truth:
    """`segments` as `write_video` does, with `sound` (float32, channels x samples, as `tone`)
    as an audio track, interleaved the way a camera writes them."""
    width, height = size
    channels = sound.shape[0]
    layout = "mono" if channels == 1 else "stereo"
    chunk = 1024
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "18"}
        audio = container.add_stream(codec, rate=rate, layout=layout)
        audio.options = {"b": "256k"} if codec == "aac" else {}
        fmt = "fltp" if codec == "aac" else audio.codec_context.format.name
        sent = 0

        def send_audio(until: int) -> None:
            nonlocal sent
            while sent < min(until, sound.shape[1]):
                part = np.ascontiguousarray(sound[:, sent : sent + chunk])
                data = part if fmt == "fltp" else (part.T.reshape(1, -1) * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
                frame.sample_rate, frame.pts = rate, sent
                for packet in audio.encode(frame):
                    container.mux(packet)
                sent += part.shape[1]

        for i, rgb in enumerate(_all_frames(segments, width, height)):
            send_audio(round((i + 1) * rate / fps))
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        send_audio(sound.shape[1])
        for stream in (video, audio):
            for packet in stream.encode():
                container.mux(packet)
    return truth_of(segments, fps)
