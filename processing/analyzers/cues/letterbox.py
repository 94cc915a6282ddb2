"""Letterbox and pillarbox: black bars above and below, or left and right, of the picture.

On the analysis luma the pipeline already has, each frame's content box is the bounding box of
its pixels above black (FFmpeg cropdetect's test, with its default limit of 24 for video whose
black is 16). A scene's active picture is the union of its frames' boxes: a dark
shot's dark edge is a bar in no frame where something lights it. One cue covers the scenes
that share one active picture, so a change of framing starts a new cue. A file's detector keeps
every frame's box until the scenes are known; a live stream's (SceneFraming) keeps the open
scene's union and the count of its frames that reach it, a few numbers whatever the scene's length.
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


def frame_box(measured: Measured) -> Box | None:
    """A frame's content box (None: a black frame, or none)."""
    probed = probed_of(measured.frame.probed)
    black = 0 if probed is not None and probed.full_range else 16
    return None if measured.stats.black else content_box(measured.frame.luma, black + LIMIT)


class LetterboxDetector:
    """An Analyzer (analyzers/__init__.py) whose result, given the scenes, is the letterbox and
    pillarbox cues. Keeps each frame's box (10 bytes a frame) until the scenes are known."""

    def __init__(self) -> None:
        self._index: array[int] = array("q")
        self._box: array[int] = array("h")  # top, bottom, left, right per frame; -1s for no picture
        self._size = (0, 0)

    def update(self, measured: Measured) -> None:
        frame, luma = measured.frame, measured.frame.luma
        box = frame_box(measured)
        self._size = (luma.shape[1], luma.shape[0])
        self._index.append(frame.index)
        self._box.extend((-1, -1, -1, -1) if box is None else _edges(box))

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
            for cue in framing_cues(union, agree, (scene.start_s, scene.end_s), self._size, display):
                merge(cues, last, cue)
        return cues


class SceneFraming:
    """The same cues from frames fed once their scene is final, each scene's cues made as it closes;
    `ongoing` gives the open scene's cues as its frames so far have them (its active picture can only
    grow)."""

    def __init__(self, fps: float, display: tuple[int, int]) -> None:
        self._frame_s = 1.0 / fps
        self._display = display
        self._size = (0, 0)
        self._scene: _OpenScene | None = None
        self.cues: list[Cue] = []
        self._last: dict[str, int] = {}  # kind -> its latest cue in `cues`

    def update(self, measured: Measured, new_scene: bool) -> None:
        frame = measured.frame
        if new_scene and self._scene is not None:
            self._close(frame.time_s)
        if self._scene is None:
            self._scene = _OpenScene(frame.time_s)
        self._size = (frame.luma.shape[1], frame.luma.shape[0])
        self._scene.add(frame_box(measured), frame.time_s + self._frame_s)

    def ongoing(self) -> dict[str, Cue]:
        """The open scene's cues by type, from where the same framing began (in an earlier scene, when it
        goes on from there)."""
        scene = self._scene
        if scene is None or scene.union is None:
            return {}
        found = {}
        for cue in framing_cues(scene.union, scene.agree, (scene.start_s, scene.end_s), self._size, self._display):
            before = self.cues[self._last[cue.type]] if cue.type in self._last else None
            if before is not None and _continues(before, cue):
                cue = Cue(cue.type, before.start_s, cue.end_s, min(before.confidence, cue.confidence), cue.detail)
            found[cue.type] = cue
        return found

    def finish(self, end_s: float) -> list[Cue]:
        if self._scene is not None:
            self._close(end_s)
        return self.cues

    def _close(self, end_s: float) -> None:
        scene, self._scene = self._scene, None
        if scene is not None and scene.union is not None:
            for cue in framing_cues(scene.union, scene.agree, (scene.start_s, end_s), self._size, self._display):
                merge(self.cues, self._last, cue)


class _OpenScene:
    """A scene's frames so far: the union of their boxes, and how many of them reach it (within
    AGREE_PX), counted by distinct box. The union only grows, so a box that no longer reaches it never
    will again: only boxes within AGREE_PX of each of its edges are kept, 16 at most."""

    def __init__(self, start_s: float) -> None:
        self.start_s = self.end_s = start_s
        self.union: Box | None = None
        self._near: dict[Box, int] = {}
        self._lit = 0

    @property
    def agree(self) -> float:
        return sum(self._near.values()) / self._lit if self._lit else 0.0

    def add(self, box: Box | None, end_s: float) -> None:
        self.end_s = end_s
        if box is None:
            return
        self._lit += 1
        union = self.union
        grown = box if union is None else Box(min(union.top, box.top), max(union.bottom, box.bottom),
                                              min(union.left, box.left), max(union.right, box.right))
        if grown != union:
            self.union = grown
            self._near = {b: n for b, n in self._near.items() if _reaches(b, grown)}
        if _reaches(box, grown):
            self._near[box] = self._near.get(box, 0) + 1


def _reaches(box: Box, union: Box) -> bool:
    return all(abs(a - b) <= AGREE_PX for a, b in zip(_edges(box), _edges(union), strict=True))


def framing_cues(union: Box, agree: float, span: tuple[float, float], size: tuple[int, int],
                 display: tuple[int, int]) -> list[Cue]:
    """The cues of one scene over `span` whose frames' active picture is `union` (in analysis pixels of a
    picture `size`), `agree` the share of its frames whose own box reaches it; in `display` pixels."""
    detail = _detail(union, size, display)
    return [Cue(kind, span[0], span[1], agree, detail) for kind in _kinds(union, size)]


def merge(cues: list[Cue], last: dict[str, int], cue: Cue) -> None:
    """Add `cue` to `cues`, or lengthen the latest of its type when the same framing goes on into it;
    `last`: the index of the latest cue of each type."""
    previous = cues[last[cue.type]] if cue.type in last else None
    if previous is not None and _continues(previous, cue):
        cues[last[cue.type]] = Cue(cue.type, previous.start_s, cue.end_s, min(previous.confidence, cue.confidence),
                                   cue.detail)
    else:
        last[cue.type] = len(cues)
        cues.append(cue)


def _continues(previous: Cue, cue: Cue) -> bool:
    return previous.detail == cue.detail and math.isclose(previous.end_s, cue.start_s, abs_tol=1e-6)


def _kinds(box: Box, size: tuple[int, int]) -> list[str]:
    width, height = size
    kinds = []
    rows = max(MIN_BAR_PX, math.ceil(MIN_BAR * height))
    if box.top >= rows and height - box.bottom >= rows:
        kinds.append("letterbox")
    columns = max(MIN_BAR_PX, math.ceil(MIN_BAR * width))
    if box.left >= columns and width - box.right >= columns:
        kinds.append("pillarbox")
    return kinds


def _detail(box: Box, size: tuple[int, int], display: tuple[int, int]) -> dict[str, object]:
    width, height = size
    sx, sy = display[0] / width, display[1] / height
    x, y = round(box.left * sx), round(box.top * sy)
    w, h = round(box.right * sx) - x, round(box.bottom * sy) - y
    return {"active": {"x": x, "y": y, "width": w, "height": h}, "aspect": round(w / h, 3)}


def _edges(box: Box) -> tuple[int, int, int, int]:
    return box.top, box.bottom, box.left, box.right
