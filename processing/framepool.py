"""Full-size yuv420p frames for the annotated video, used again once the encoder has copied them.

A new 720p frame per decoded frame costs more than copying the picture into it: FFmpeg's buffers
that large come straight from mmap, so every frame pays page faults and the kernel's zeroing
(docs/benchmarks.md: about 0.45 ms of CPU a 720p frame, twice what the copy itself costs).
The decoder's own frames cannot be drawn on instead: most are still the reference pictures of
frames to come.
"""

from __future__ import annotations

import threading

from av.video.frame import VideoFrame

# Frames kept for reuse, at most: more than the renderer ever holds at once is only memory.
KEEP = 32


class FramePool:
    """Hands out yuv420p frames of one size; `give` returns one when nothing reads it any more.

    Thread-safe: the frame loop takes, the encoder thread gives back.
    """

    def __init__(self, keep: int = KEEP) -> None:
        self._free: list[VideoFrame] = []
        self._keep = keep
        self._lock = threading.Lock()

    def take(self, width: int, height: int) -> VideoFrame:
        with self._lock:
            frame = self._free.pop() if self._free else None
        if frame is None or (frame.width, frame.height) != (width, height):
            return VideoFrame(width, height, "yuv420p")
        # A no-op while we hold the only reference; a copy should FFmpeg still hold one.
        frame.make_writable()
        return frame

    def give(self, frame: VideoFrame) -> None:
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(frame)
