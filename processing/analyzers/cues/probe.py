"""What the video cues measure on the decoded picture itself, before the decoder shrinks it:
the pipeline hands `Prober.probe` to the Decoder, which calls it on every picture in order and
attaches what it returns to the frame (decode.Frame.probed).

Levels (for out_of_range) are read on a regular sample of the decoded planes (SAMPLE_ROWS whole
rows of each), not on the shrunk luma: averaging pulls the
extremes in, and the cue reports shares of real samples and the worst real values. FFmpeg's
signalstats (whose BRNG is this test) costs about ten times as much even on a 320x180 copy, and
some fifty times on the decoded picture (docs/benchmarks.md). Full-range video has no such limits,
so is not measured; neither are formats other than planar 8, 10 or 12-bit YUV (their chroma is not
at hand as planes).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import av.filter
import cv2
import numpy as np
from av.video.format import VideoFormat
from av.video.frame import VideoFrame

from vidpulse.processing.decode import plane_view

# AVColorRange's AVCOL_RANGE_JPEG: full-range video puts black at 0 rather than 16.
_FULL_RANGE = 2
LUMA_RANGE = (16, 235)
CHROMA_RANGE = (16, 240)
# Whole rows sampled from each plane, evenly spaced: what costs is the cache lines a sample
# touches, the same for every fourth pixel of a row as for all of it (docs/benchmarks.md).
SAMPLE_ROWS = 24
# idet's strip: this many bands of this many columns, and strips in the ring it is written from.
STRIP_BANDS = 2
BAND_WIDTH = 64
STRIP_POOL = 4
_TIME_BASE = Fraction(1, 25)  # idet looks at pictures, not times: any clock will do
# Planar YUV formats whose levels are read, and the shift that brings their samples to 8 bits.
_PLANAR = {
    "yuv420p": 0, "yuv422p": 0, "yuv444p": 0, "yuv411p": 0, "yuv440p": 0,
    "yuv420p10le": 2, "yuv422p10le": 2, "yuv444p10le": 2, "yuv420p12le": 4, "yuv422p12le": 4, "yuv444p12le": 4,
}
# Other pixel formats whose first plane is the luma (for idet), and the shift to 8 bits.
_LUMA_SHIFT_EXTRA = {"yuvj420p": 0, "yuvj422p": 0, "yuvj444p": 0, "nv12": 0, "nv21": 0, "gray": 0, "gray10le": 2}
_LUMA_SHIFT = {**_PLANAR, **_LUMA_SHIFT_EXTRA}


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


def sample_levels(frame: VideoFrame, planes: Sequence[np.ndarray] = ()) -> Levels | None:
    """The levels of a limited-range planar YUV picture; None for any other. `planes`: its planes'
    views (plane_views), when the caller has them already."""
    shift = _PLANAR.get(frame.format.name)
    if shift is None:
        return None
    y, u, v = (_sample(view, shift) for view in (planes or plane_views(frame, shift))[:3])
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


def _sample(rows: np.ndarray, shift: int) -> np.ndarray:
    """SAMPLE_ROWS whole rows of a plane, evenly spaced: a view, read in place by OpenCV."""
    view = rows[:: max(1, len(rows) // SAMPLE_ROWS)]
    return np.right_shift(view, shift).astype(np.uint8) if shift else view


def plane_views(frame: VideoFrame, shift: int, count: int = 3) -> list[np.ndarray]:
    """The first `count` planes as array views without the line padding, 16-bit when `shift`. Made once
    for every measurement of a picture: PyAV builds its plane objects anew on each `frame.planes`."""
    dtype, size = (np.uint16, 2) if shift else (np.uint8, 1)
    return [np.frombuffer(memoryview(plane), dtype).reshape(-1, plane.line_size // size)[: plane.height, : plane.width]
            for plane in frame.planes[:count]]


class FieldMeter:
    """FFmpeg's idet on each picture's luma at full height (fields are its alternate lines), but
    only STRIP_BANDS bands of BAND_WIDTH columns of it, side by side: idet compares lines with
    their neighbours above and below, so whole columns keep the fields apart, and it judges the
    picture by what moves across the bands. On the whole 720p picture (chroma too) it costs about
    twice as much (docs/benchmarks.md). Its verdict on a picture comes when the next one is pushed
    (it compares each with both neighbours)."""

    def __init__(self) -> None:
        self._graph: av.filter.Graph | None = None
        self._pool: list[VideoFrame] = []
        self._views: list[np.ndarray] = []  # of the pool's luma planes
        self._pushed = 0
        self._failed = False

    def push(self, frame: VideoFrame, luma: np.ndarray | None = None) -> str | None:
        """Measure `frame` (`luma`: the view of its first plane, when the caller has it); idet's
        verdict on the picture before it, if any."""
        shift = _LUMA_SHIFT.get(frame.format.name)
        if shift is None or self._failed:
            return None
        luma = plane_views(frame, shift, 1)[0] if luma is None else luma
        bands = _bands(luma.shape[1])
        width = sum(band.stop - band.start for band in bands)
        if self._graph is None:
            self._start(width, luma.shape[0])
        strip = self._pool[self._pushed % len(self._pool)]
        if (strip.width, strip.height) != (width, luma.shape[0]):
            self._failed = True  # the picture's size changed mid-stream: idet's graph is built for one
            return None
        target, at = self._views[self._pushed % len(self._pool)], 0
        for band in bands:
            part = luma[:, band]
            np.copyto(target[:, at : at + part.shape[1]], np.right_shift(part, shift) if shift else part,
                      casting="unsafe")
            at += part.shape[1]
        strip.pts = self._pushed
        self._pushed += 1
        return self._run(strip)

    def finish(self) -> str | None:
        """idet's verdict on the last picture."""
        return None if self._graph is None or self._failed else self._run(None)

    def _start(self, width: int, height: int) -> None:
        graph = av.filter.Graph()
        source = graph.add_buffer(width=width, height=height, format=VideoFormat("gray"), time_base=_TIME_BASE)
        idet = graph.add("idet")
        sink = graph.add("buffersink")
        source.link_to(idet)
        idet.link_to(sink)
        graph.configure()
        self._graph = graph
        # idet holds three pictures (before, now, after): a fourth strip is free to write.
        for _ in range(STRIP_POOL):
            strip = VideoFrame(width, height, "gray")
            strip.time_base = _TIME_BASE
            self._pool.append(strip)
            self._views.append(plane_view(strip, 0))

    def _run(self, strip: VideoFrame | None) -> str | None:
        assert self._graph is not None
        try:
            self._graph.push(strip)
            # idet passes on at most one picture for each it takes: one pull, no second to wait for.
            out = self._graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return None
        except (av.FFmpegError, ValueError):
            self._failed = True
            return None
        verdict = out.metadata.get("lavfi.idet.single.current_frame")
        return None if verdict is None else str(verdict)


@functools.cache
def _bands(width: int) -> list[slice]:
    """The columns of a picture that idet sees: STRIP_BANDS bands, each centred in its share of
    the width, on 64-byte boundaries (a cache line)."""
    if width <= STRIP_BANDS * BAND_WIDTH:
        return [slice(0, width)]
    starts = [max(0, min(width - BAND_WIDTH, width * (2 * k + 1) // (2 * STRIP_BANDS) - BAND_WIDTH // 2)) // 64 * 64
              for k in range(STRIP_BANDS)]
    return [slice(start, start + BAND_WIDTH) for start in starts]


@dataclass(frozen=True, slots=True)
class Probed:
    full_range: bool
    levels: Levels | None
    interlaced_flag: bool  # the picture says of itself that it is interlaced
    field: str | None  # idet's verdict on the picture before: tff, bff, progressive, undetermined


def is_full_range(frame: VideoFrame) -> bool:
    return frame.format.name.startswith("yuvj") or frame.color_range == _FULL_RANGE


class Prober:
    def __init__(self) -> None:
        self.fields = FieldMeter()

    def probe(self, frame: VideoFrame) -> Probed:
        full_range = is_full_range(frame)
        name = frame.format.name
        shift = _LUMA_SHIFT.get(name)
        planes = () if shift is None else plane_views(frame, shift, 3 if name in _PLANAR else 1)
        levels = None if full_range else sample_levels(frame, planes)
        return Probed(full_range, levels, bool(frame.interlaced_frame), self.fields.push(frame, *planes[:1]))


def probed_of(probed: object) -> Probed | None:
    """A frame's `probed`, when the pipeline's Prober made it."""
    return probed if isinstance(probed, Probed) else None
