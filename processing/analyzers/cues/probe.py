"""What the video cues measure on the decoded picture itself, before the decoder shrinks it:
the pipeline hands `Prober.probe` to the Decoder, which calls it on every picture in order and
attaches what it returns to the frame (decode.Frame.probed)."""

from __future__ import annotations

from dataclasses import dataclass

from av.video.frame import VideoFrame

# AVColorRange's AVCOL_RANGE_JPEG: full-range video puts black at 0 rather than 16.
_FULL_RANGE = 2


@dataclass(frozen=True, slots=True)
class Probed:
    full_range: bool


def is_full_range(frame: VideoFrame) -> bool:
    return frame.format.name.startswith("yuvj") or frame.color_range == _FULL_RANGE


class Prober:
    def probe(self, frame: VideoFrame) -> Probed:
        return Probed(is_full_range(frame))


def probed_of(probed: object) -> Probed | None:
    """A frame's `probed`, when the pipeline's Prober made it."""
    return probed if isinstance(probed, Probed) else None
