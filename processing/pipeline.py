"""`analyze`: one decode pass feeding every analyzer, with progress reports and cancellation."""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
from av.video.frame import VideoFrame

from vidpulse.processing.analyzers import Analyzer
from vidpulse.processing.analyzers.cues import VideoCues
from vidpulse.processing.analyzers.cues.interlace import stream_scan
from vidpulse.processing.analyzers.cues.probe import Prober
from vidpulse.processing.analyzers.cuts import CutAnalyzer
from vidpulse.processing.analyzers.keyframes import KeyframeAnalyzer
from vidpulse.processing.analyzers.motion import Box, MotionAnalyzer
from vidpulse.processing.analyzers.quality import QualityAnalyzer, QualityResult
from vidpulse.processing.artifacts import Artifacts
from vidpulse.processing.audio import AudioResult
from vidpulse.processing.audio_cues import AudioCues
from vidpulse.processing.cues import Cue, existing_cues, in_order
from vidpulse.processing.decode import Decoder, Span
from vidpulse.processing.errors import Cancelled, OptionsError, UndecodableVideo
from vidpulse.processing.exports import (
    CHAPTERS_NAME,
    CUES_NAME,
    EDL_NAME,
    OTIO_NAME,
    OTIO_TYPE,
    chapters_vtt,
    cues_vtt,
    scenes_edl,
    scenes_otio,
)
from vidpulse.processing.features import Measured, Meter
from vidpulse.processing.framepool import FramePool
from vidpulse.processing.options import AnalysisOptions
from vidpulse.processing.probe import VideoInfo, probe
from vidpulse.processing.progress import Progress, ProgressTracker, never_cancelled, no_progress, no_scene
from vidpulse.processing.qc import assess, profile_cues
from vidpulse.processing.render import RENDER_LONGEST, Renderer
from vidpulse.processing.report import CSV_NAME, Scene, frames_csv, scenes_of, write_report
from vidpulse.processing.schema import REPORT_SCHEMA_VERSION
from vidpulse.processing.series import FrameSeries
from vidpulse.processing.timeline import timeline_png


def analyze(
    source: Path,
    out_dir: Path,
    options: AnalysisOptions = AnalysisOptions(),  # noqa: B008 - frozen, so sharing one is safe
    on_progress: Callable[[Progress], None] = no_progress,
    is_cancelled: Callable[[], bool] = never_cancelled,
    on_scene: Callable[[Scene], None] = no_scene,
    info: VideoInfo | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Analyse `source`, write report.json and the artifacts into `out_dir`, return the report.
    `info` is the file's probe when the caller has it already (the server probes every upload).
    `name` is the video's name as its owner knows it, for the exports' titles and media reference
    (default: the source file's name; the server keeps uploads under a name of its own).

    `on_scene` is called with each scene as it closes (its thumbnail written), in order, while
    the analysis runs: the same scenes the report lists, the last one just before the report.

    Raises UndecodableVideo when no frame decodes, Cancelled when `is_cancelled()` turns true
    (checked on every frame), OptionsError when `start_s` lies past the end. Whatever the error,
    the files this run wrote are removed.

    OpenCV runs single-threaded for the duration (a process-wide setting, restored after): run
    concurrent analyses in processes, as the server's workers do, not in threads.
    """
    artifacts = Artifacts(Path(out_dir))
    run = _Run(Path(source), artifacts, options, on_progress, is_cancelled, on_scene, info, name)
    # FFmpeg's decoder threads already keep every core busy; OpenCV's own thread pool on the
    # small frames only adds CPU for synchronisation (docs/benchmarks.md).
    opencv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return run.run()
    except BaseException:
        if run.renderer is not None:
            run.renderer.abort()
        artifacts.remove_all()
        raise
    finally:
        cv2.setNumThreads(opencv_threads)


class _Run:
    def __init__(
        self,
        source: Path,
        artifacts: Artifacts,
        options: AnalysisOptions,
        on_progress: Callable[[Progress], None],
        is_cancelled: Callable[[], bool],
        on_scene: Callable[[Scene], None],
        info: VideoInfo | None = None,
        name: str | None = None,
    ) -> None:
        self.source = source
        self.name = name or source.name
        self.on_scene = on_scene
        self.info = info
        self.scene_start: tuple[int, float] | None = None  # first frame and time of the open scene
        self.artifacts = artifacts
        self.options = options
        self.is_cancelled = is_cancelled
        self.on_progress = on_progress
        self.started = time.perf_counter()
        self.series = FrameSeries()
        self.pending: deque[Measured] = deque()
        # Full-size frames waiting for the renderer: (index, time, I420 picture, motion boxes).
        self.to_render: deque[tuple[int, float, VideoFrame, list[Box]]] = deque()
        self.scene = 0
        self.renderer: Renderer | None = None
        # The annotated video's frames, drawn and encoded, then decoded into again.
        self.frame_pool = FramePool()
        self.series_width = 1
        self._cut_frames: list[int] = []
        self.fps = 25.0
        self.audio: AudioResult | None = None
        self.audio_cues = AudioCues()

    def run(self) -> dict[str, Any]:
        opts = self.options
        progress = ProgressTracker(self.on_progress, 1, opts.render)
        progress.update(0)
        info = self.info or probe(self.source)
        self._check_cancel()
        progress.set_total(_expected_frames(info, opts))
        span = Span(opts.start_s, opts.end_s, opts.max_frames)
        self.prober = Prober()
        decoder = Decoder(
            self.source,
            opts.width,
            colour_every=THUMBNAIL_CANDIDATE_EVERY,
            colour_width=max(THUMBNAIL_WIDTH, opts.width),
            full_longest=RENDER_LONGEST if opts.render else 0,
            full_pool=self.frame_pool,
            span=span,
            audio=True,
            probe=self.prober.probe,
        )
        if decoder.audio is not None:
            decoder.audio.listeners.append(self.audio_cues.feed)
        with decoder:
            fps = self.fps = decoder.fps
            self._make_analyzers(fps, stream_scan(decoder.stream))
            progress.start("analyze")
            self._frame_loop(decoder, progress)
            self.audio = decoder.audio.result() if decoder.audio is not None else None
        progress.set_total(len(self.series))
        if self.renderer is not None:
            progress.start("render")
            progress.update(0)
            self.renderer.close()
            progress.update(len(self.series))
        progress.start("finalize")
        progress.update(0)
        report = self._finalize(info, fps)
        progress.finish()
        return report

    def _make_analyzers(self, fps: float, scan: str) -> None:
        opts = self.options
        self.cuts = CutAnalyzer(
            fps,
            threshold=opts.cut_threshold,
            ratio=opts.cut_ratio,
            fade_threshold=opts.fade_threshold,
            black_min_s=opts.black_min_s,
        )
        self.quality = QualityAnalyzer(
            fps,
            black_min_s=opts.black_min_s,
            freeze_threshold=opts.freeze_threshold,
            freeze_min_s=opts.freeze_min_s,
            blur_threshold=opts.blur_threshold,
            blur_min_s=opts.blur_min_s,
        )
        box_every = 1  # the renderer draws every frame's boxes; the report's must not differ without it
        self.motion = MotionAnalyzer(fps, threshold=opts.motion_threshold, min_s=opts.motion_min_s, box_every=box_every)
        self.keyframes = KeyframeAnalyzer(self.artifacts)
        # Fed as each frame is decoded; the keyframe picker later, once the frame's scene is final.
        self.video_cues = VideoCues(fps, self.prober, scan)
        self.per_frame: list[Analyzer[object]] = [self.cuts, self.quality, self.motion, self.video_cues]

    def _frame_loop(self, decoder: Decoder, progress: ProgressTracker) -> None:
        meter: Meter | None = None
        for frame in decoder.frames():
            self._check_cancel()
            if meter is None:
                meter = Meter(full_range=decoder.full_range, black_threshold=self.options.black_threshold)
            measured = meter.measure(frame)
            self.series_width = frame.luma.shape[1]
            self.series.append(measured)
            for analyzer in self.per_frame:
                analyzer.update(measured)
            frame = measured.frame
            if frame.full is not None:
                self.to_render.append((frame.index, frame.time_s, frame.full, self.motion.boxes_at(frame.index)))
            # Held until its scene number is final: without the masks, which only the loop uses,
            # nor the full-size picture, which the renderer holds on its own terms.
            small = dataclasses.replace(frame, full=None)
            self.pending.append(dataclasses.replace(measured, changed=None, frame=small))
            self._settle(self.cuts.decided_index)
            progress.update(len(self.series))
        if not len(self.series):
            if self.options.start_s > 0:
                start = self.options.start_s
                raise OptionsError("start_s", f"start_s ({start:g} s) is at or past the end of the video.")
            raise UndecodableVideo("No frame of the video could be decoded.")
        self.cuts.finish()
        self._settle(self.cuts.decided_index)

    def _settle(self, decided_index: int) -> None:
        """Feed the consumers that need final scene numbers, a few frames behind the loop."""
        cuts = self.cuts.cuts
        while self.pending and self.pending[0].frame.index <= decided_index:
            measured = self.pending.popleft()
            frame = measured.frame
            if self.scene_start is None:
                self.scene_start = (frame.index, frame.time_s)
            closing = self.scene
            while self.scene < len(cuts) and cuts[self.scene].frame <= frame.index:
                self.scene += 1
            if self.scene != closing:
                self.keyframes.next_scene()  # writes the closed scene's thumbnail
                self._scene_closed(closing, frame.index - 1, cuts[closing].time_s)
                self.scene_start = (frame.index, frame.time_s)
            self.keyframes.update(measured)
        self._render_ready(decided_index)

    def _render_ready(self, decided_index: int) -> None:
        """Render the frames whose scene number is final, and the oldest beyond RENDER_HELD_MAX
        even before (a dissolve is decided up to seconds late: holding full-size frames that
        long would cost hundreds of MB; the label of such a frame may show the scene before)."""
        if not self.to_render:
            return
        cuts = self.cuts.cuts
        if len(self._cut_frames) != len(cuts):  # cuts are only ever added
            self._cut_frames = [c.frame for c in cuts]
        cut_frames = self._cut_frames
        while self.to_render and (self.to_render[0][0] <= decided_index or len(self.to_render) > RENDER_HELD_MAX):
            index, time_s, picture, boxes = self.to_render.popleft()
            scene = bisect.bisect_right(cut_frames, index)
            if self.renderer is None:
                width, height = picture.width, picture.height
                path = self.artifacts.claim(ANNOTATED_NAME, "video/mp4")
                size = (width, height)
                self.renderer = Renderer(path, self.fps, size, self.series_width, self.frame_pool, sound=self.source)
            self.renderer.write(picture, time_s, scene, boxes)

    def _scene_closed(self, index: int, end_frame: int, end_s: float) -> None:
        assert self.scene_start is not None
        thumbnails = self.keyframes.thumbnails
        thumbnail = thumbnails[index] if index < len(thumbnails) else None
        start_frame, start_s = self.scene_start
        self.on_scene(Scene(index, start_frame, end_frame, start_s, end_s, thumbnail))

    def _finalize(self, info: VideoInfo, fps: float) -> dict[str, Any]:
        cut_result = self.cuts.result()
        thumbnails = self.keyframes.result()
        self._check_cancel()
        if self.scene_start is not None:
            self._scene_closed(self.scene, self.series.index[-1], self.series.end_s(fps))
        motion = self.motion.result([c.frame for c in cut_result.cuts])
        quality = self.quality.result()
        loudness = None if self.audio is None else self.audio.short_term_at(self.series.time_s)
        self.artifacts.write_bytes(CSV_NAME, "text/csv", frames_csv(self.series, loudness))
        self._check_cancel()
        end_s = self.series.end_s(fps)
        sound = None if self.audio is None else self.audio.short_term
        png = timeline_png(self.series, motion.scores, cut_result.cuts, quality, end_s, loudness=sound)
        self.artifacts.write_bytes(TIMELINE_NAME, "image/png", png)
        self._check_cancel()
        scenes = scenes_of(cut_result.cuts, self.series, fps, thumbnails)
        cues = self._cues(quality, scenes, info)
        self.artifacts.write_bytes(CUES_NAME, "text/vtt", cues_vtt(cues))
        start_s = self.series.time_s[0]
        self.artifacts.write_bytes(CHAPTERS_NAME, "text/vtt", chapters_vtt(scenes))
        edl = scenes_edl(scenes, cut_result.cuts, fps, self.name)
        self.artifacts.write_bytes(EDL_NAME, "text/plain", edl)
        otio = scenes_otio(scenes, cut_result.cuts, fps, self.name)
        self.artifacts.write_bytes(OTIO_NAME, OTIO_TYPE, otio)
        frames = len(self.series)
        video = info.to_dict()
        if self._whole_video():
            video["frames"] = frames
        wall = time.perf_counter() - self.started
        report: dict[str, Any] = {
            "schema": REPORT_SCHEMA_VERSION,
            "video": video,
            "analysed": {
                "start_frame": self.series.index[0],
                "end_frame": self.series.index[-1],
                "frames": frames,
                "start_s": round(self.series.time_s[0], 6),
                "end_s": round(self.series.end_s(fps), 6),
            },
            "options": self.options.to_dict(),
            "cuts": [c.to_dict() for c in cut_result.cuts],
            "scenes": [s.to_dict() for s in scenes],
            "motion": motion.to_dict(),
            "quality": quality.to_dict(),
            "audio": None if self.audio is None else self.audio.to_dict(),
            "cues": [c.to_dict() for c in cues],
            "qc": assess(self.options.qc_profile, cues, self.audio, self.video_cues.interlace, (start_s, end_s)),
            "artifacts": [],
            "timing": {"wall_s": round(wall, 3), "fps": round(frames / wall, 1) if wall > 0 else 0.0},
        }
        return write_report(report, self.artifacts)

    def _cues(self, quality: QualityResult, scenes: list[Scene], info: VideoInfo) -> list[Cue]:
        cues = [*existing_cues(quality, self.audio), *self.video_cues.result(scenes, (info.width, info.height))]
        if self.audio is not None:
            cues += [*self.audio_cues.result(), *profile_cues(self.options.qc_profile, self.audio)]
        return in_order(cues)

    def _whole_video(self) -> bool:
        opts = self.options
        return (
            opts.start_s == 0 and opts.end_s is None and (opts.max_frames is None or opts.max_frames > len(self.series))
        )

    def _check_cancel(self) -> None:
        if self.is_cancelled():
            raise Cancelled()


ANNOTATED_NAME = "annotated.mp4"
# Only every n-th frame gets the colour copy a thumbnail is cut from, this wide at least (or the
# source's width; see decode.colour_size).
THUMBNAIL_CANDIDATE_EVERY = 4
THUMBNAIL_WIDTH = 480
# Full-size frames held for the renderer until their scene number is final, at most.
RENDER_HELD_MAX = 16
TIMELINE_NAME = "timeline.png"


def _expected_frames(info: VideoInfo, options: AnalysisOptions) -> int:
    end_s = info.duration_s if options.end_s is None else min(options.end_s, info.duration_s)
    frames = info.frames if end_s >= info.duration_s else round(end_s * info.fps)
    frames -= round(options.start_s * info.fps)
    if options.max_frames is not None:
        frames = min(frames, options.max_frames)
    return max(1, frames)
