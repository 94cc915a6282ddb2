"""The file pipeline's analyzers fed one live frame at a time.

Each frame is measured once (features.Meter); cuts, quality and the video cue detectors (cues.py) see
it at once; motion, the thumbnail picker and the letterbox detector see it once its cut decision is final
(`CutAnalyzer.decided_index`, a few frames behind), which is also when a scene closes and is announced.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable

from vidpulse.processing.analyzers.cuts import CutAnalyzer
from vidpulse.processing.analyzers.keyframes import KeyframeAnalyzer
from vidpulse.processing.analyzers.motion import BOX_MOTION, Box, moving_boxes
from vidpulse.processing.analyzers.quality import QualityAnalyzer
from vidpulse.processing.artifacts import Artifacts
from vidpulse.processing.decode import Frame
from vidpulse.processing.features import Measured, Meter
from vidpulse.processing.live.cues import LiveVideoCues
from vidpulse.processing.live.motion import LiveMotion
from vidpulse.processing.options import AnalysisOptions
from vidpulse.processing.report import Scene

# Moving boxes on every other frame: a segment's region needs no more (as pipeline.py's without render).
BOX_EVERY = 2


class LiveFrames:
    def __init__(self, fps: float, options: AnalysisOptions, artifacts: Artifacts, *, full_range: bool,
                 on_scene: Callable[[Scene], None], scan: str, display: tuple[int, int]) -> None:
        """`scan`: what the stream says of its scan (interlace.stream_scan); `display`: its picture size."""
        o = options
        self.meter = Meter(full_range=full_range, black_threshold=o.black_threshold)
        self.cuts = CutAnalyzer(fps, threshold=o.cut_threshold, ratio=o.cut_ratio,
                                fade_threshold=o.fade_threshold, black_min_s=o.black_min_s)
        self.quality = QualityAnalyzer(fps, black_min_s=o.black_min_s, freeze_threshold=o.freeze_threshold,
                                       freeze_min_s=o.freeze_min_s, blur_threshold=o.blur_threshold,
                                       blur_min_s=o.blur_min_s)
        self.motion = LiveMotion(threshold=o.motion_threshold, min_s=o.motion_min_s)
        self.keyframes = KeyframeAnalyzer(artifacts)
        self.cues = LiveVideoCues(fps, scan, display)
        self.scenes: list[Scene] = []
        self.frames = 0
        self._box_motion = min(o.motion_threshold, BOX_MOTION)
        self._on_scene = on_scene
        # Frames whose cut decision is not final yet, small (no mask, no full picture), with their boxes.
        self._undecided: deque[tuple[Measured, list[Box]]] = deque()
        self._opened: tuple[int, float] | None = None  # the open scene's first frame and time
        self._cuts_passed = 0  # cuts whose frame has been settled
        self._size = (1, 1)

    def add(self, frame: Frame) -> Measured:
        measured = self.meter.measure(frame)
        self.cuts.update(measured)
        self.quality.update(measured)
        self.cues.update(measured)
        due = self.frames % BOX_EVERY == 0 and measured.stats.motion >= self._box_motion
        boxes = moving_boxes(measured.changed) if due else []
        self._size = (frame.luma.shape[1], frame.luma.shape[0])
        self._undecided.append((dataclasses.replace(measured, changed=None), boxes))
        self.frames += 1
        self._settle(self.cuts.decided_index)
        return measured

    def finish(self, end_s: float) -> list[Scene]:
        """Decide the last frames, close the last scene at `end_s`; the scenes, thumbnails written."""
        self.cuts.finish()
        self._settle(self.cuts.decided_index)
        self.keyframes.result()
        if self._opened is not None and self.frames:
            last = self.frames - 1
            self._close_scene(last, end_s)
        return self.scenes

    def _settle(self, decided: int) -> None:
        cuts = self.cuts.cuts
        while self._undecided and self._undecided[0][0].frame.index <= decided:
            measured, boxes = self._undecided.popleft()
            index, time_s = measured.frame.index, measured.frame.time_s
            entered = False
            while self._cuts_passed < len(cuts) and cuts[self._cuts_passed].frame <= index:
                self._cuts_passed += 1
                entered = True
            if entered and self._opened is not None:
                self.keyframes.next_scene()
                self._close_scene(index - 1, cuts[self._cuts_passed - 1].time_s)
            if entered or self._opened is None:
                self._opened = (index, time_s)
            self.motion.update(index, time_s, measured.stats.motion, boxes, self._size, entered)
            self.keyframes.update(measured)
            self.cues.settled(measured, entered)

    def _close_scene(self, end_frame: int, end_s: float) -> None:
        assert self._opened is not None
        number = len(self.scenes)
        thumbnails = self.keyframes.thumbnails
        start_frame, start_s = self._opened
        scene = Scene(number, start_frame, end_frame, start_s, end_s, thumbnails[number] if number < len(thumbnails)
                      else None)
        self.scenes.append(scene)
        self._opened = None
        self._on_scene(scene)
