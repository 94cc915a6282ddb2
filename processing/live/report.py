"""The report a live session ends with, written by the file pipeline's writers: thumbnails and the
contact sheet, timeline.png (from the levels, one point a second), chapters.vtt, cues.vtt, scenes.edl,
scenes.otio and report.json, with the cues and the delivery checks (report.qc) of the whole stream. No
frames.csv: a row a frame of a day-long stream would be millions of rows."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from vidpulse.processing import exports
from vidpulse.processing.artifacts import Artifacts
from vidpulse.processing.errors import UndecodableVideo
from vidpulse.processing.live.audio import LiveAudioMeter
from vidpulse.processing.live.cues import report_cues
from vidpulse.processing.live.frames import LiveFrames
from vidpulse.processing.live.incidents import IncidentBook
from vidpulse.processing.live.levels import LevelMeter
from vidpulse.processing.live.options import LiveOptions
from vidpulse.processing.live.schema import LiveReport
from vidpulse.processing.pipeline import TIMELINE_NAME
from vidpulse.processing.qc import assess
from vidpulse.processing.report import write_report
from vidpulse.processing.schema import REPORT_SCHEMA_VERSION
from vidpulse.processing.timeline import timeline_png


@dataclass
class Picture:
    """What the first frame said about the stream, for the report's `video`."""

    width: int
    height: int
    fps: float
    codec: str
    container: str
    rotation: int
    size: tuple[int, int]  # the analysis size, kept for every run (the analyzers compare frames)


class Seen(Protocol):
    """What a live analysis has seen (processing/live/analysis.py's LiveAnalysis)."""

    work: LiveFrames | None
    picture: Picture | None
    audio: LiveAudioMeter | None
    levels: LevelMeter
    incidents: IncidentBook
    artifacts: Artifacts
    options: LiveOptions
    timeline_s: float
    from_s: float
    started: float
    name: str

    def loudness(self) -> tuple[float | None, float | None]: ...


def write_live_report(run: Seen) -> dict[str, Any]:
    work, picture = run.work, run.picture
    if work is None or picture is None or not work.frames:
        raise UndecodableVideo("No frame of the live stream could be decoded.")
    run.levels.flush(run.loudness())
    end_s = run.timeline_s
    scenes = work.finish(end_s)
    run.incidents.close_all(end_s)
    frame_s = 1.0 / picture.fps
    quality = work.quality.result()
    cuts = work.cuts.cuts
    audio = None if run.audio is None else run.audio.result()
    cues = report_cues(work.cues, run.audio, audio, quality, end_s)
    loudness = run.levels.loudness if audio is not None else None
    png = timeline_png(run.levels.series, run.levels.series.motion, cuts, quality, end_s, loudness=loudness)
    run.artifacts.write_bytes(TIMELINE_NAME, "image/png", png)
    run.artifacts.write_bytes(exports.CHAPTERS_NAME, "text/vtt", exports.chapters_vtt(scenes))
    run.artifacts.write_bytes(exports.CUES_NAME, "text/vtt", exports.cues_vtt(cues))
    edl = exports.scenes_edl(scenes, cuts, picture.fps, run.name)
    run.artifacts.write_bytes(exports.EDL_NAME, "text/plain", edl)
    otio = exports.scenes_otio(scenes, cuts, picture.fps, run.name)
    run.artifacts.write_bytes(exports.OTIO_NAME, exports.OTIO_TYPE, otio)
    wall = time.perf_counter() - run.started
    frames = work.frames
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA_VERSION,
        "video": {"width": picture.width, "height": picture.height, "fps": picture.fps, "frames": frames,
                  "duration_s": round(end_s, 6), "codec": picture.codec, "container": picture.container,
                  "rotation": picture.rotation},
        "analysed": {"start_frame": 0, "end_frame": frames - 1, "frames": frames,
                     "start_s": round(run.from_s, 6), "end_s": round(end_s, 6)},
        "options": run.options.to_dict(),
        "cuts": [c.to_dict() for c in cuts],
        "scenes": [s.to_dict() for s in scenes],
        "motion": work.motion.result(frame_s),
        "quality": quality.to_dict(),
        "audio": None if audio is None else audio.to_dict(),
        "cues": [c.to_dict() for c in cues],
        "qc": assess(run.options.qc_profile, cues, audio, work.cues.interlace, (0.0, end_s)),
        "incidents": [i.to_dict() for i in run.incidents.all()],
        "artifacts": [],
        "timing": {"wall_s": round(wall, 3), "fps": round(frames / wall, 1) if wall > 0 else 0.0},
    }
    return write_report(report, run.artifacts, LiveReport)
