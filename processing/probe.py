"""`probe`: what a video is, from its header and its first decodable frame only."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from vidpulse.processing.decode import (
    MAX_PACKETS_TO_FIRST_FRAME,
    display_size,
    frame_rate,
    open_video,
    rotation_of,
)
from vidpulse.processing.errors import UndecodableVideo


@dataclass(frozen=True)
class VideoInfo:
    """A video as a player shows it: `width`/`height` after rotation, `rotation` clockwise degrees.

    `frames` is the container's exact count when it has one (MP4, MOV), else duration x fps.
    """

    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    codec: str
    container: str
    rotation: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe(path: Path) -> VideoInfo:
    """Describe `path` quickly; raises UndecodableVideo when it is not a decodable video."""
    container, stream = open_video(Path(path))
    try:
        first = first_frame(container, stream)
        rotation = rotation_of(first)
        width, height = display_size(stream, rotation)
        fps = frame_rate(stream)
        duration = _duration_s(container, stream)
        frames = stream.frames if stream.frames > 0 else max(1, round(duration * fps))
        if duration <= 0:
            duration = frames / fps
        return VideoInfo(
            width=width,
            height=height,
            fps=round(fps, 6),
            frames=int(frames),
            duration_s=round(duration, 6),
            codec=stream.codec_context.name,
            container=_container_name(container, Path(path)),
            rotation=rotation,
        )
    finally:
        container.close()


def first_frame(container: InputContainer, stream: VideoStream) -> VideoFrame:
    """Decode packets until one frame comes out, reading a bounded number of packets."""
    packets = 0
    try:
        for packet in container.demux(stream):
            packets += 1
            try:
                frames = packet.decode()
            except (av.FFmpegError, ValueError):
                frames = []
            if frames:
                return frames[0]
            if packets >= MAX_PACKETS_TO_FIRST_FRAME:
                break
    except (av.FFmpegError, OSError, ValueError):
        pass
    raise UndecodableVideo("No frame of the video could be decoded (the file is damaged or truncated).")


def _duration_s(container: InputContainer, stream: VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def _container_name(container: InputContainer, path: Path) -> str:
    # FFmpeg names one demuxer "mov,mp4,m4a,3gp,3g2,mj2": pick the alias the file's suffix uses.
    names = container.format.name.split(",")
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in names else names[0]
