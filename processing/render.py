"""The annotated video: H.264 (libx264), yuv420p, faststart MP4 that plays in browsers.

Drawn on the small colour copy the decoder already makes, at the analysis size, so rendering
costs an encode of a small picture rather than a second decode and a full-size conversion.
Frames arrive a few frames behind the loop, once their scene number is final.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidpulse.processing.analyzers.motion import Box
from vidpulse.processing.errors import RenderFailed
from vidpulse.processing.features import Measured
from vidpulse.processing.overlay import draw_label, timecode

_BOX_COLOUR = (0, 255, 0)
# A browser-safe H.264 encode that keeps up with the analysis (see docs/benchmarks.md).
_ENCODER_OPTIONS = {"preset": "veryfast", "crf": "23"}


class Renderer:
    """Writes one annotated frame per analysed frame, numbered from 0 at the video's rate."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self._container = av.open(str(path), mode="w", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = size
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = dict(_ENCODER_OPTIONS)
        self._stream.thread_type = "AUTO"
        self._size = size
        # Text about 1/30 of the picture's width tall, readable at 320 px wide.
        self._scale = max(0.45, size[0] / 700)
        self._pts = 0
        self.frames = 0

    def write(self, measured: Measured, scene: int, boxes: list[Box]) -> None:
        colour = measured.frame.colour
        if colour is None:
            raise ValueError("the renderer needs frames decoded with their colour copy")
        picture = np.array(colour)  # a copy: the thumbnail picker may hold the original
        for x, y, w, h in boxes:
            cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), _BOX_COLOUR, 1)
        height = picture.shape[0]
        line = round(30 * self._scale)
        draw_label(picture, f"scene {scene}", (6, line), self._scale)
        draw_label(picture, timecode(measured.frame.time_s), (6, height - 8), self._scale)
        frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
        frame.pts = self._pts
        self._pts += 1
        self._mux(frame)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (faststart moves the index to the front)."""
        self._mux(None)
        self._container.close()

    def abort(self) -> None:
        self._container.close()

    def _mux(self, frame: av.VideoFrame | None) -> None:
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            raise RenderFailed(f"The annotated video could not be written ({type(exc).__name__}).") from None
