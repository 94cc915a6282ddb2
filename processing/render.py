"""The annotated video: H.264 (libx264), yuv420p, faststart MP4 that plays in browsers.

Drawn on the full frame, at the source's display size (upright, at most RENDER_LONGEST on its
longer side), in the same decode pass: the decoder hands over each frame as a new yuv420p frame,
the boxes and labels are drawn straight into its planes (luma for the text, all three for the
green boxes) and the frame goes to the encoder as is: no frame is converted to RGB and back,
nor copied into the encoder's format. Frames arrive a little behind the loop, once their scene
number is known.

Encoding runs in a thread of its own (PyAV releases the GIL while libx264 works): the frame loop
goes on analysing while the encoder digests the frames before, instead of waiting on each. The
same thread carries the source's sound along (processing/soundtrack.py).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidpulse.processing.analyzers.motion import Box
from vidpulse.processing.decode import plane_view
from vidpulse.processing.errors import RenderFailed
from vidpulse.processing.framepool import FramePool
from vidpulse.processing.overlay import scene_number, timecode
from vidpulse.processing.soundtrack import Soundtrack

# The annotated video's longer side, at most.
RENDER_LONGEST = 1920
# Green in limited-range BT.601 YUV.
_BOX_YUV = (145, 54, 34)
_TEXT_Y, _OUTLINE_Y = 235, 16
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# libx264's fastest preset: at full size the encoder is the render's cost (docs/benchmarks.md),
# and a slightly larger file is the better trade for a preview. Its threads are left to libx264
# (frame threads, 1.5 a core): fewer, sliced threads, a higher crf or no lookahead saved no
# measurable CPU (bench/render.py).
ENCODER_OPTIONS: Mapping[str, str] = {"preset": "ultrafast", "crf": "23"}
# Drawn frames waiting for the encoder thread, at most.
ENCODE_QUEUE = 4
_DONE = None


class Renderer:
    """Writes one annotated frame per analysed frame, numbered from 0 at the video's rate.

    `size` is the picture's (width, height); `analysis_width` the width the motion boxes are
    measured at, to scale them up. Each frame goes back to `pool`, if given, once encoded.
    `options` are libx264's, `depth` the frames that may wait for the encoder thread. `sound`:
    the source whose first audio stream the video carries, if it has one.
    """

    def __init__(
        self,
        path: Path,
        fps: float,
        size: tuple[int, int],
        analysis_width: int,
        pool: FramePool | None = None,
        *,
        options: Mapping[str, str] = ENCODER_OPTIONS,
        depth: int = ENCODE_QUEUE,
        sound: Path | None = None,
    ) -> None:
        self._container = av.open(str(path), mode="w", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._rate = rate
        self._stream.width, self._stream.height = size
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = dict(options)
        self._stream.thread_type = "AUTO"
        self._size = size
        self._box_scale = size[0] / max(1, analysis_width)
        # Text about 1/30 of the picture's height tall, whatever the size.
        self._scale = max(0.45, min(size) / 700)
        self._thickness = max(1, round(self._scale * 1.5))
        # Every stream is added before the first packet is written (the header lists them).
        self._sound = Soundtrack.of(sound, self._container) if sound is not None else None
        self._pts = 0
        self._pool = pool
        self.frames = 0
        self._queue: queue.Queue[av.VideoFrame | None] = queue.Queue(maxsize=depth)
        self._error: RenderFailed | None = None
        self._thread = threading.Thread(target=self._encode_all, name="vidpulse-encode", daemon=True)
        self._thread.start()

    def write(self, frame: av.VideoFrame, time_s: float, scene: int, boxes: list[Box]) -> None:
        """Draw onto `frame` (yuv420p at this renderer's size; it is changed) and encode it.
        `scene` is the report's 0-based index; the label shows the number people read."""
        height = self._size[1]
        luma, u, v = (plane_view(frame, k) for k in range(3))
        line = max(1, round(self._box_scale))
        for x, y, w, h in boxes:
            x0, y0 = round(x * self._box_scale), round(y * self._box_scale)
            x1, y1 = round((x + w) * self._box_scale) - 1, round((y + h) * self._box_scale) - 1
            cv2.rectangle(luma, (x0, y0), (x1, y1), _BOX_YUV[0], line)
            half = max(1, line // 2)
            for plane, value in ((u, _BOX_YUV[1]), (v, _BOX_YUV[2])):
                cv2.rectangle(plane, (x0 // 2, y0 // 2), (x1 // 2, y1 // 2), value, half)
        pad = round(10 * self._scale)
        self._label(luma, f"scene {scene_number(scene)}", (pad, round(30 * self._scale) + pad))
        self._label(luma, timecode(time_s), (pad, height - pad))
        if self._pts == 0 and self._sound is not None:
            self._sound.begin(time_s)  # before the encoder thread has anything to do
        frame.pts = self._pts
        self._pts += 1
        self._raise_failure()
        self._queue.put(frame)
        self.frames += 1

    def _label(self, luma: np.ndarray, text: str, origin: tuple[int, int]) -> None:
        """White on a dark outline, in the luma plane only: readable on any picture."""
        cv2.putText(luma, text, origin, _FONT, self._scale, _OUTLINE_Y, self._thickness + 2, cv2.LINE_AA)
        cv2.putText(luma, text, origin, _FONT, self._scale, _TEXT_Y, self._thickness, cv2.LINE_AA)

    def close(self) -> None:
        """Flush the encoder and finish the file (faststart moves the index to the front)."""
        self._queue.put(_DONE)
        self._thread.join()
        self._raise_failure()
        self._mux(None)
        if self._sound is not None:
            with _writing():
                self._sound.finish(float(self._pts / self._rate))
            self._sound.close()
        self._container.close()

    def abort(self) -> None:
        """Stop the encoder thread without finishing the file (the caller removes it)."""
        self._error = self._error or RenderFailed("The annotated video was abandoned.")
        while self._thread.is_alive():
            # Make room for the end marker whatever the thread is waiting on, and hand it over.
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_DONE)
            self._thread.join(0.05)
        if self._sound is not None:
            self._sound.close()
        self._container.close()

    def _encode_all(self) -> None:
        while (frame := self._queue.get()) is not _DONE:
            if self._error is not None:
                continue  # failed or abandoned: drain until the end marker
            try:
                self._encode(frame)
            except RenderFailed as exc:
                self._error = exc
            else:
                # libx264 has copied the picture (FramePool.take copies it again should it not have).
                if self._pool is not None:
                    self._pool.give(frame)

    def _encode(self, frame: av.VideoFrame) -> None:
        if self._sound is not None:
            with _writing():
                self._sound.until(float((frame.pts or 0) / self._rate))
        self._mux(frame)

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _mux(self, frame: av.VideoFrame | None) -> None:
        with _writing():
            for packet in self._stream.encode(frame):
                self._container.mux(packet)


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """FFmpeg's and the file system's errors while writing, as the render's own."""
    try:
        yield
    except (av.FFmpegError, OSError) as exc:
        raise RenderFailed(f"The annotated video could not be written ({type(exc).__name__}).") from None
