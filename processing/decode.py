"""The one decoder: PyAV frames turned into small upright luma (and, when asked, colour) arrays.

Reading the Y plane as a numpy view and shrinking it with `cv2.resize` is the fastest path
measured (see docs/benchmarks.md): PyAV's own `to_ndarray`/`reformat` convert the whole frame
first and cost about as much as decoding itself.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import av
import cv2
import numpy as np
from av.container import InputContainer
from av.packet import Packet
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from vidpulse.processing.audio import AudioMeter
from vidpulse.processing.errors import UndecodableVideo
from vidpulse.processing.framepool import FramePool
from vidpulse.processing.readahead import ReadAhead

# Seconds to wait on a read before giving up: hostile or stalled input must not hang a worker.
OPEN_TIMEOUT_S = 10.0
# Bound how much of the file FFmpeg reads while guessing the format and stream parameters, and let
# it open local files only: an uploaded session description or playlist that names network
# addresses must not make the server send or listen. (FFmpeg gives a local file's nested opens
# 'file,crypto,data' by default; saying it here keeps it so whatever a later FFmpeg defaults to.)
_CONTAINER_OPTIONS = {"probesize": "5000000", "analyzeduration": "5000000", "protocol_whitelist": "file"}
# Decoded full-size frames the decode thread may hold ready (4K: 12 MB each).
READ_AHEAD = 4
# Decoder options, the same for every run, so the analysis does not depend on whether the video is
# also rendered. No in-loop deblocking on frames nothing is predicted from, so nothing drifts: 57 dB
# PSNR and more from the exact decode on 720p H.264, and real footage analysed as with the exact
# decode. Skipping it on every frame, with FFmpeg's non-conforming shortcuts, saved 10% more CPU but
# moved a dissolve and split a frozen stretch (docs/benchmarks.md, "One decode for analysis and render").
DECODE_OPTIONS = {"skip_loop_filter": "noref"}
# Packets to read for the first decodable frame before calling a file undecodable.
MAX_PACKETS_TO_FIRST_FRAME = 300
# Demuxers that hold single pictures or text, not video.
_NOT_VIDEO_FORMATS = ("image2", "tty")
_NOT_VIDEO_SUFFIX = "_pipe"
# Pixel formats whose first plane is 8-bit luma we can view directly.
_LUMA8 = {
    "yuv420p",
    "yuvj420p",
    "yuv422p",
    "yuvj422p",
    "yuv444p",
    "yuvj444p",
    "nv12",
    "nv21",
    "gray",
    "yuv411p",
}
_LUMA16 = {"yuv420p10le", "yuv422p10le", "yuv444p10le", "yuv420p12le", "gray10le"}
_I420 = {"yuv420p", "yuvj420p"}
_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame, downscaled to the analysis size and turned upright.

    `time_s` comes from the frame's timestamp, so variable frame rates keep their real timing.
    """

    index: int
    time_s: float
    luma: np.ndarray  # uint8 (height, width)
    colour: np.ndarray | None  # uint8 BGR, at the colour width, only when the decoder was asked for it
    full: VideoFrame | None = None  # yuv420p at the render size, upright, when the decoder was asked
    probed: object = None  # what the decoder's `probe` made of the decoded picture, when it has one


def open_video(path: Path) -> tuple[InputContainer, VideoStream]:
    """Open `path` and return its first video stream, or raise UndecodableVideo with a reason."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UndecodableVideo(f"The file cannot be read ({exc.strerror or exc}).") from None
    if size == 0:
        raise UndecodableVideo("The file is empty.")
    try:
        container = av.open(
            str(path),
            mode="r",
            timeout=(OPEN_TIMEOUT_S, OPEN_TIMEOUT_S),
            container_options=_CONTAINER_OPTIONS,
        )
    except (av.FFmpegError, OSError, ValueError, UnicodeError):
        raise UndecodableVideo("The file is not a video in any format FFmpeg can read.") from None
    fmt = container.format.name
    if fmt in _NOT_VIDEO_FORMATS or fmt.endswith(_NOT_VIDEO_SUFFIX):
        container.close()
        raise UndecodableVideo("The file is a still image or text, not a video.")
    if not container.streams.video:
        what = "audio only" if container.streams.audio else "no video stream"
        container.close()
        raise UndecodableVideo(f"The file has no video to analyse ({what}).")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.width:
        container.close()
        raise UndecodableVideo("The video stream has no known codec or picture size.")
    return container, stream


def rotation_of(frame: VideoFrame) -> int:
    """Clockwise degrees (0, 90, 180, 270) a player turns this frame by, from its display matrix."""
    # PyAV reports the matrix as a counter-clockwise angle in [-180, 180].
    return round(-frame.rotation / 90.0) * 90 % 360


def display_size(stream: VideoStream, rotation: int) -> tuple[int, int]:
    """Width and height as shown: sample aspect ratio applied, then the rotation."""
    ctx = stream.codec_context
    width, height = ctx.width, ctx.height
    sar = stream.sample_aspect_ratio
    if sar is not None and sar > 0 and sar != 1:
        width = max(1, round(width * float(sar)))
    return (height, width) if rotation in (90, 270) else (width, height)


def frame_rate(stream: VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    value = float(rate) if rate else 0.0
    return value if math.isfinite(value) and value > 0 else 25.0


def stream_offset_s(stream: VideoStream) -> float:
    """Timestamp of the stream's start, so that reported times begin at 0."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def decoded_frames(
    container: InputContainer, stream: VideoStream, audio: AudioMeter | None = None
) -> Iterator[VideoFrame]:
    """Every frame that decodes; corrupt packets are skipped, a broken container ends the stream.

    A truncated file thus yields what decodes up to the damage, and the caller decides whether
    that is enough (zero frames is not). With `audio`, the packets of its stream go to it on the
    way: one read of the file for both.
    """
    packets: Iterator[Packet[Any]] = container.demux(stream) if audio is None else container.demux(stream, audio.stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except (av.FFmpegError, OSError, ValueError):
            # The demuxer cannot go on (truncated or damaged container): keep what we have.
            return
        if audio is not None and packet.stream_index != stream.index:
            audio.feed(packet)
            continue
        try:
            frames = cast(list[VideoFrame], packet.decode())
        except (av.FFmpegError, ValueError):
            continue
        yield from frames


def render_size(display: tuple[int, int], longest: int) -> tuple[int, int]:
    """Even (width, height) of the display size with its longer side at most `longest`."""
    dw, dh = display
    scale = min(1.0, longest / max(dw, dh))
    return max(2, round(dw * scale / 2) * 2), max(2, round(dh * scale / 2) * 2)


def colour_size(display: tuple[int, int], at_least: int) -> tuple[int, int]:
    """The display size halved as often as it stays at least `at_least` wide: `shrink` halves a
    plane for a third of what an arbitrary size costs (docs/benchmarks.md), and the colour copy
    is made for every few frames."""
    width = display[0]
    while width // 2 >= at_least:
        width //= 2
    return analysis_size(display, width)


def analysis_size(display: tuple[int, int], width: int) -> tuple[int, int]:
    """Even (width, height) at most `width` wide with the display aspect ratio (never upscaled)."""
    dw, dh = display
    aw = max(2, min(width, dw) // 2 * 2)
    ah = max(2, round(dh * aw / dw / 2) * 2)
    return aw, ah


class FrameConverter:
    """Turns PyAV frames into upright arrays: luma at the analysis size, and when asked a BGR
    copy at `colour_size` and an I420 copy at `full_size` (for the annotated video)."""

    def __init__(
        self,
        size: tuple[int, int],
        rotation: int,
        colour_size: tuple[int, int] | None = None,
        full_size: tuple[int, int] | None = None,
        pool: FramePool | None = None,
    ) -> None:
        self.size = size
        self.rotation = rotation
        self.colour_size = colour_size or size
        self.full_size = full_size
        self._pool = pool or FramePool()
        # Shrink first, rotate the small picture: rotating a 4K frame would cost more than decoding.
        self._coded = self._coded_size(size)

    def _coded_size(self, size: tuple[int, int]) -> tuple[int, int]:
        width, height = size
        return (height, width) if self.rotation in (90, 270) else (width, height)

    def luma(self, frame: VideoFrame) -> np.ndarray:
        fmt = frame.format.name
        if fmt in _LUMA8 or fmt in _LUMA16:
            plane = frame.planes[0]
            dtype = np.uint16 if fmt in _LUMA16 else np.uint8
            itemsize = np.dtype(dtype).itemsize
            # line_size may exceed the width (alignment padding): view the rows, then crop.
            rows = np.frombuffer(memoryview(plane), dtype).reshape(-1, plane.line_size // itemsize)
            full: np.ndarray = rows[: frame.height, : frame.width]
        else:
            full = frame.to_ndarray(format="gray")
        small = shrink(full, self._coded)
        if small.dtype != np.uint8:
            small = np.right_shift(small, 2 if fmt.endswith("10le") else 4).astype(np.uint8)
        return self._upright(small)

    def bgr(self, frame: VideoFrame, luma: np.ndarray) -> np.ndarray:
        fmt = frame.format.name
        cw, ch = self._coded_size(self.colour_size)
        if fmt in _I420 and cw % 2 == 0 and ch % 2 == 0:
            if self.colour_size == self.size:
                y = luma if self.rotation == 0 else self._unrotate(luma)
            else:
                y = shrink(_plane_view(frame, 0), (cw, ch))
            half = (cw // 2, ch // 2)
            u = shrink(_plane_view(frame, 1), half)
            v = shrink(_plane_view(frame, 2), half)
            i420 = np.concatenate((y.ravel(), u.ravel(), v.ravel())).reshape(ch * 3 // 2, cw)
            small = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
        else:
            small = frame.reformat(width=cw, height=ch, format="bgr24").to_ndarray()
        return self._upright(small)

    def i420(self, frame: VideoFrame) -> VideoFrame:
        """A yuv420p frame from the pool, upright at `full_size`, for the encoder: the planes are
        shrunk and turned one by one straight into it, never converted to RGB and back."""
        assert self.full_size is not None
        width, height = self.full_size
        cw, ch = self._coded_size(self.full_size)
        source = frame if frame.format.name in _I420 else frame.reformat(width=cw, height=ch, format="yuv420p")
        out = self._pool.take(width, height)
        for k in range(3):
            size = (cw, ch) if k == 0 else (cw // 2, ch // 2)
            np.copyto(_plane_view(out, k), self._upright(shrink(_plane_view(source, k), size)))
        return out

    def _upright(self, small: np.ndarray) -> np.ndarray:
        code = _ROTATE.get(self.rotation)
        return small if code is None else cv2.rotate(small, code)

    def _unrotate(self, small: np.ndarray) -> np.ndarray:
        inverse = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
        return cv2.rotate(small, inverse[self.rotation])


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale to `size` (width, height) averaging like INTER_AREA, about 4x faster.

    A bilinear resize to exactly half the size averages 2x2 pixels, so halving while the
    picture is at least twice the target and finishing with INTER_AREA gives area averaging
    (within one level) for a fraction of INTER_AREA's cost on large frames (docs/benchmarks.md).
    """
    width, height = size
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        half = (image.shape[1] // 2, image.shape[0] // 2)
        image = cv2.resize(image, half, interpolation=cv2.INTER_LINEAR)
    if image.shape[1] != width or image.shape[0] != height:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image


def plane_view(frame: VideoFrame, index: int) -> np.ndarray:
    """Plane `index` of an 8-bit frame as a (writable) array view without the line padding."""
    return _plane_view(frame, index)


def _plane_view(frame: VideoFrame, index: int) -> np.ndarray:
    plane = frame.planes[index]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return rows[: plane.height, : plane.width]


@dataclass(frozen=True)
class Span:
    """Which frames to decode: [start_s, end_s) and at most max_frames of them."""

    start_s: float = 0.0
    end_s: float | None = None
    max_frames: int | None = None


class Decoder:
    """Iterates `Frame`s of one video at the analysis size; use as a context manager."""

    def __init__(
        self,
        path: Path,
        width: int,
        *,
        colour_every: int = 0,
        span: Span = Span(),
        read_ahead: int | None = None,
        audio: bool = False,
        colour_width: int | None = None,
        full_longest: int = 0,
        full_pool: FramePool | None = None,
        probe: Callable[[VideoFrame], object] | None = None,
    ) -> None:
        """`colour_every`: attach the colour copy to every n-th frame (0: never, 1: always).
        `read_ahead`: frames a background thread may decode ahead (0: decode in the caller;
        None: the module's READ_AHEAD). `audio`: measure the first audio stream, if there is
        one, in the same pass (`self.audio`, read once the frames are done). `colour_width`:
        the colour copy is at least this wide, at the display size halved (`colour_size`), or
        the display size when narrower (default: the analysis width).
        `full_longest`: attach to every frame an I420 copy at the display size with its longer
        side at most this (0: none), for the annotated video, taken from `full_pool` (give them
        back once encoded). `probe`: called with every decoded picture, in order, before it is
        shrunk; it returns the frame's `probed` (the cues measure what the shrunk luma lost).
        Whatever the arguments, every frame is decoded alike (DECODE_OPTIONS)."""
        self.container, self.stream = open_video(path)
        self.stream.thread_type = "AUTO"
        self.stream.codec_context.options = dict(DECODE_OPTIONS)
        self.span = span
        self.fps = frame_rate(self.stream)
        self.full_range = False
        self.audio: AudioMeter | None = None
        if audio and self.container.streams.audio:
            offset = stream_offset_s(self.stream)
            self.audio = AudioMeter(self.container.streams.audio[0], offset, span.start_s, span.end_s)
        self._width = width
        self._colour_width = colour_width
        self._full_longest = full_longest
        self._full_pool = full_pool
        self._colour_every = colour_every
        self._probe = probe
        self._read_ahead = READ_AHEAD if read_ahead is None else read_ahead
        self._ahead: ReadAhead[tuple[int, float, VideoFrame]] | None = None
        self._offset = stream_offset_s(self.stream)
        self._time_base: Fraction | None = self.stream.time_base
        self.converter: FrameConverter | None = None

    def __enter__(self) -> Decoder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.close()
        self.container.close()

    def frames(self) -> Iterator[Frame]:
        """The frames of the span, shrunk in the calling thread.

        With `read_ahead`, a background thread only demuxes and decodes: shrinking there too
        would serialise it with decoding and make that thread the bottleneck.
        """
        selected: Iterator[tuple[int, float, VideoFrame]] = self._selected()
        if self._read_ahead:
            self._ahead = ReadAhead(selected, self._read_ahead, name="vidpulse-decode")
            selected = iter(self._ahead)
        return self._converted(selected)

    def _selected(self) -> Iterator[tuple[int, float, VideoFrame]]:
        """(index, time, frame) for the frames of the span."""
        span = self.span
        if span.start_s > 0:
            self._seek(span.start_s)
        count = 0
        index: int | None = None
        half_frame = 0.5 / self.fps
        for av_frame in decoded_frames(self.container, self.stream, self.audio):
            time_s = self._time_of(av_frame, index)
            if time_s < span.start_s - half_frame:
                continue
            if span.end_s is not None and time_s >= span.end_s - half_frame:
                return
            if index is None:
                # From the start we count exactly; after a seek the index is estimated from the time.
                index = round(time_s * self.fps) if span.start_s > 0 else 0
            else:
                index += 1
            yield index, time_s, av_frame
            count += 1
            if span.max_frames is not None and count >= span.max_frames:
                return

    def _converted(self, selected: Iterator[tuple[int, float, VideoFrame]]) -> Iterator[Frame]:
        for count, (index, time_s, av_frame) in enumerate(selected):
            if self.converter is None:
                self.converter = self._converter_for(av_frame)
            try:
                luma = self.converter.luma(av_frame)
                wanted = self._colour_every and count % self._colour_every == 0
                colour = self.converter.bgr(av_frame, luma) if wanted else None
                full = self.converter.i420(av_frame) if self._full_longest else None
            except (cv2.error, ValueError, av.FFmpegError):
                fmt = av_frame.format.name
                raise UndecodableVideo(f"A frame in pixel format {fmt} could not be converted.") from None
            probed = self._probe(av_frame) if self._probe is not None else None
            yield Frame(index, time_s, luma, colour, full, probed)

    def _converter_for(self, av_frame: VideoFrame) -> FrameConverter:
        rotation = rotation_of(av_frame)
        # Full-range ("JPEG") video puts black at 0 rather than 16.
        self.full_range = av_frame.format.name.startswith("yuvj") or av_frame.color_range == 2
        display = display_size(self.stream, rotation)
        size = analysis_size(display, self._width)
        colour = colour_size(display, self._colour_width) if self._colour_width else None
        full = render_size(display, self._full_longest) if self._full_longest else None
        return FrameConverter(size, rotation, colour, full, self._full_pool)

    def _time_of(self, av_frame: VideoFrame, previous: int | None) -> float:
        if av_frame.pts is None or self._time_base is None:
            return 0.0 if previous is None else (previous + 1) / self.fps
        return float(av_frame.pts * self._time_base) - self._offset

    def _seek(self, start_s: float) -> None:
        if self._time_base is None:
            return
        target = int((start_s + self._offset) / self._time_base)
        # Not seekable: decoding from the start and skipping frames is slower but correct.
        with contextlib.suppress(av.FFmpegError, OSError, ValueError):
            self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
