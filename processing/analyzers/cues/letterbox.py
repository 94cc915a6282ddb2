"""Letterbox and pillarbox: black bars above and below, or left and right, of the picture.

On the analysis luma the pipeline already has, each frame's content box is the bounding box of
its pixels above black (FFmpeg cropdetect's test, with its default limit of 24 for video whose
black is 16). A scene's active picture is the union of its frames' boxes: a dark
shot's dark edge is a bar in no frame where something lights it. One cue covers the scenes
that share one active picture, so a change of framing starts a new cue.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vidpulse.processing.analyzers.cues.probe import probed_of
from vidpulse.processing.cues import Cue
from vidpulse.processing.features import Measured
from vidpulse.processing.report import Scene

# Above black by more than this (levels) is picture: cropdetect's default limit, 24 for black at 16.
LIMIT = 8
# A bar is at least this share of the picture's height (letterbox) or width (pillarbox), and 2
# analysis pixels: a 1.85:1 film in a 16:9 frame has bars of 2 % each.
MIN_BAR = 0.01
MIN_BAR_PX = 2
# A frame's own box that reaches the scene's active picture within this (analysis pixels) agrees.
AGREE_PX = 1


@dataclass(frozen=True, slots=True)
class Box:
    top: int
    bottom: int  # exclusive
    left: int
    right: int  # exclusive


def content_box(luma: np.ndarray, limit: int) -> Box | None:
    """The bounding box of the pixels above `limit`; None for a frame without one."""
    _, lit = cv2.threshold(luma, limit, 255, cv2.THRESH_BINARY)
    x, y, width, height = cv2.boundingRect(lit)
    return None if width == 0 else Box(y, y + height, x, x + width)


class LetterboxDetector:
    """An Analyzer (analyzers/__init__.py) whose result, given the scenes, is the letterbox and
    pillarbox cues. Keeps each frame's box (10 bytes a frame) until the scenes are known."""

    def __init__(self) -> None:
        self._index: array[int] = array("q")
        self._box: array[int] = array("h")  # top, bottom, left, right per frame; -1s for no picture
        self._size = (0, 0)

    def update(self, measured: Measured) -> None:
        frame, luma = measured.frame, measured.frame.luma
        probed = probed_of(frame.probed)
        black = 0 if probed is not None and probed.full_range else 16
        box = None if measured.stats.black else content_box(luma, black + LIMIT)
        self._size = (luma.shape[1], luma.shape[0])
        self._index.append(frame.index)
        self._box.extend((-1, -1, -1, -1) if box is None else (box.top, box.bottom, box.left, box.right))

    def result(self, scenes: Sequence[Scene] = (), display: tuple[int, int] = (0, 0)) -> list[Cue]:
        """The cues of `scenes`, their active picture in `display` pixels (the video's width and height)."""
        cues: list[Cue] = []
        last: dict[str, int] = {}  # kind -> its latest cue in `cues`
        if not len(self._index):
            return cues
        boxes = np.frombuffer(self._box, np.int16).reshape(-1, 4)
        index = np.frombuffer(self._index, np.int64)
        for scene in scenes:
            inside = (index >= scene.start_frame) & (index <= scene.end_frame)
            lit = boxes[inside & (boxes[:, 0] >= 0)]
            if not len(lit):
                continue
            union = Box(int(lit[:, 0].min()), int(lit[:, 1].max()), int(lit[:, 2].min()), int(lit[:, 3].max()))
            agree = float(np.mean(np.all(np.abs(lit - np.array(_edges(union))) <= AGREE_PX, axis=1)))
            for kind in self._kinds(union):
                cue = Cue(kind, scene.start_s, scene.end_s, agree, self._detail(union, display))
                previous = cues[last[kind]] if kind in last else None
                if previous is not None and previous.detail == cue.detail \
                        and math.isclose(previous.end_s, cue.start_s, abs_tol=1e-6):
                    # The same framing goes on into this scene: one cue.
                    cues[last[kind]] = Cue(kind, previous.start_s, cue.end_s, min(previous.confidence, agree),
                                           cue.detail)
                else:
                    last[kind] = len(cues)
                    cues.append(cue)
        return cues

    def _kinds(self, box: Box) -> list[str]:
        width, height = self._size
        kinds = []
        rows = max(MIN_BAR_PX, math.ceil(MIN_BAR * height))
        if box.top >= rows and height - box.bottom >= rows:
            kinds.append("letterbox")
        columns = max(MIN_BAR_PX, math.ceil(MIN_BAR * width))
        if box.left >= columns and width - box.right >= columns:
            kinds.append("pillarbox")
        return kinds

    def _detail(self, box: Box, display: tuple[int, int]) -> dict[str, object]:
        width, height = self._size
        sx, sy = display[0] / width, display[1] / height
        x, y = round(box.left * sx), round(box.top * sy)
        w, h = round(box.right * sx) - x, round(box.bottom * sy) - y
        return {"active": {"x": x, "y": y, "width": w, "height": h}, "aspect": round(w / h, 3)}


def _edges(box: Box) -> tuple[int, int, int, int]:
    return box.top, box.bottom, box.left, box.right
