"""What the video cues measure on the decoded picture itself, before the decoder shrinks it:
the pipeline hands `Prober.probe` to the Decoder, which calls it on every picture in order and
attaches what it returns to the frame (decode.Frame.probed).

Levels (for out_of_range) are read on a regular sample of the decoded planes (SAMPLE_ROWS whole
rows of each), not on the shrunk luma: averaging pulls the
extremes in, and the cue reports shares of real samples and the worst real values. FFmpeg's
signalstats (whose BRNG is this test) costs about ten times as much even on a 320x180 copy
(docs/benchmarks.md). Full-range video has no such limits, so is not measured; neither are
formats other than planar 8, 10 or 12-bit YUV (their chroma is not at hand as planes).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from av.video.frame import VideoFrame

# AVColorRange's AVCOL_RANGE_JPEG: full-range video puts black at 0 rather than 16.
_FULL_RANGE = 2
LUMA_RANGE = (16, 235)
CHROMA_RANGE = (16, 240)
# Whole rows sampled from each plane, evenly spaced: what costs is the cache lines a sample
# touches, the same for every fourth pixel of a row as for all of it (docs/benchmarks.md).
SAMPLE_ROWS = 24
# Planar YUV formats whose levels are read, and the shift that brings their samples to 8 bits.
_PLANAR = {
    "yuv420p": 0, "yuv422p": 0, "yuv444p": 0, "yuv411p": 0, "yuv440p": 0,
    "yuv420p10le": 2, "yuv422p10le": 2, "yuv444p10le": 2, "yuv420p12le": 4, "yuv422p12le": 4, "yuv444p12le": 4,
}


@dataclass(frozen=True, slots=True)
class Levels:
    """One frame's samples: the shares outside the range and the extreme values (8-bit scale)."""

    luma_share: float
    chroma_share: float
    luma_min: int
    luma_max: int
    chroma_min: int
    chroma_max: int

    def worst(self, other: Levels) -> Levels:
        return Levels(max(self.luma_share, other.luma_share), max(self.chroma_share, other.chroma_share),
                      min(self.luma_min, other.luma_min), max(self.luma_max, other.luma_max),
                      min(self.chroma_min, other.chroma_min), max(self.chroma_max, other.chroma_max))


def sample_levels(frame: VideoFrame) -> Levels | None:
    """The levels of a limited-range planar YUV picture; None for any other."""
    shift = _PLANAR.get(frame.format.name)
    if shift is None:
        return None
    y, u, v = (_sample(frame, k, shift) for k in range(3))
    luma_min, luma_max = cv2.minMaxLoc(y)[:2]
    u_min, u_max = cv2.minMaxLoc(u)[:2]
    v_min, v_max = cv2.minMaxLoc(v)[:2]
    chroma_min, chroma_max = min(u_min, v_min), max(u_max, v_max)
    # Most pictures are within range: counting only where an extreme says some sample is not.
    luma_out = 0
    if luma_min < LUMA_RANGE[0] or luma_max > LUMA_RANGE[1]:
        luma_out = y.size - cv2.countNonZero(cv2.inRange(y, *LUMA_RANGE))
    chroma_out = 0
    if chroma_min < CHROMA_RANGE[0] or chroma_max > CHROMA_RANGE[1]:
        chroma_out = u.size + v.size - cv2.countNonZero(cv2.inRange(u, *CHROMA_RANGE)) \
            - cv2.countNonZero(cv2.inRange(v, *CHROMA_RANGE))
    return Levels(luma_out / y.size, chroma_out / (u.size + v.size), int(luma_min), int(luma_max),
                  int(chroma_min), int(chroma_max))


def _sample(frame: VideoFrame, index: int, shift: int) -> np.ndarray:
    """SAMPLE_ROWS whole rows of a plane, evenly spaced: a view, read in place by OpenCV."""
    plane = frame.planes[index]
    dtype = np.uint16 if shift else np.uint8
    itemsize = np.dtype(dtype).itemsize
    rows = np.frombuffer(memoryview(plane), dtype).reshape(-1, plane.line_size // itemsize)
    view = rows[: plane.height : max(1, plane.height // SAMPLE_ROWS), : plane.width]
    return np.right_shift(view, shift).astype(np.uint8) if shift else view


@dataclass(frozen=True, slots=True)
class Probed:
    full_range: bool
    levels: Levels | None


def is_full_range(frame: VideoFrame) -> bool:
    return frame.format.name.startswith("yuvj") or frame.color_range == _FULL_RANGE


class Prober:
    def probe(self, frame: VideoFrame) -> Probed:
        full_range = is_full_range(frame)
        return Probed(full_range, None if full_range else sample_levels(frame))


def probed_of(probed: object) -> Probed | None:
    """A frame's `probed`, when the pipeline's Prober made it."""
    return probed if isinstance(probed, Probed) else None
