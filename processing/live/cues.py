"""The technical cues of a live stream: the file pipeline's cue detectors (processing/analyzers/cues/,
processing/audio_cues.py) fed frame by frame, asked after every frame what they have in progress (each
incident follows its cue: IncidentBook.follow), and at the end for the report's `cues` and `qc`.

The detectors are the file pipeline's, so a stream's cues are found as a file's would be: on the frames'
media times, with the same minimum durations and merge gaps; an incident opens once its cue has lasted
incident_min_s and closes where the cue ends. A detector that merges gaps (interlaced: 1 s; colour bars,
out of range: 0.2 s) says a cue is over only once the gap is too long to merge, so its incident closes
that much media later, at the cue's end. Letterbox and pillarbox are judged scene by scene, as in files
(analyzers/cues/letterbox.py's SceneFraming): while a scene runs, on its frames so far.
"""

from __future__ import annotations

from vidpulse.processing.analyzers.cues import outside_patterns
from vidpulse.processing.analyzers.cues.bars import BarsDetector
from vidpulse.processing.analyzers.cues.interlace import InterlaceDetector
from vidpulse.processing.analyzers.cues.letterbox import SceneFraming
from vidpulse.processing.analyzers.cues.levels import LevelsDetector
from vidpulse.processing.analyzers.cues.probe import Prober
from vidpulse.processing.analyzers.quality import QualityResult
from vidpulse.processing.audio import AudioResult
from vidpulse.processing.cues import Cue, existing_cues, in_order
from vidpulse.processing.features import Measured
from vidpulse.processing.live.audio import LiveAudioMeter
from vidpulse.processing.live.incidents import IncidentBook, IncidentKind
from vidpulse.processing.live.qc import InProgress, LiveQc

K = IncidentKind


class LiveVideoCues:
    """The video cue detectors of one live session; `prober.probe` measures each decoded picture."""

    def __init__(self, fps: float, scan: str, display: tuple[int, int]) -> None:
        self.prober = Prober()
        self.bars = BarsDetector(fps)
        self.levels = LevelsDetector(fps)
        self.interlace = InterlaceDetector(fps, self.prober, scan)
        self.framing = SceneFraming(fps, display)

    def update(self, measured: Measured) -> None:
        """A frame as it is decoded."""
        self.bars.update(measured)
        self.levels.update(measured)
        self.interlace.update(measured)

    def settled(self, measured: Measured, new_scene: bool) -> None:
        """A frame once its scene is final (`new_scene`: it opens one)."""
        self.framing.update(measured, new_scene)

    def ongoing(self) -> dict[IncidentKind, Cue | None]:
        bars = self.bars.ongoing()
        # No out_of_range on a test pattern, nor while one waits for its colour verdict (as in files).
        levels = None if bars is not None or self.bars.pending else self.levels.ongoing()
        framing = self.framing.ongoing()
        return {K.COLOR_BARS: bars, K.OUT_OF_RANGE: levels, K.INTERLACED: self.interlace.ongoing(),
                K.LETTERBOX: framing.get("letterbox"), K.PILLARBOX: framing.get("pillarbox")}

    @property
    def leader(self) -> bool:
        """The latest frame is a still pattern of bands (a leader's bars, perhaps)."""
        return self.bars.striped

    def result(self, end_s: float) -> list[Cue]:
        bars = self.bars.result()
        levels = outside_patterns(self.levels.result(), bars)
        return [*bars, *self.framing.finish(end_s), *levels, *self.interlace.result()]


def follow_cues(book: IncidentBook, video: LiveVideoCues, audio: LiveAudioMeter | None, qc: LiveQc | None,
                black: Cue | None, time_s: float) -> None:
    """After the frame at `time_s`: every cue in progress to the incidents, and the checks of `qc`.
    `black`: the black run in progress (the quality analyzer's), as far as it goes."""
    now = video.ongoing()
    for kind, cue in now.items():
        book.follow(kind, cue)
    loudness = peak = None
    if audio is not None:
        phase, silent = audio.cues.ongoing()
        book.follow(K.AUDIO_PHASE, phase)
        for channel, cue in enumerate(silent):
            book.follow(K.CHANNEL_SILENT, cue, subject=str(channel))
        book.follow(K.CLIPPING, audio.clipping())
        loudness = None if audio.loudness is None else audio.loudness.ongoing()
        book.follow(K.LOUDNESS, loudness)
        peak = audio.cues.peak_over()
    if qc is not None:
        leader = video.leader or black is not None
        for failing in qc.checks(InProgress(now, black, loudness, peak, leader), time_s):
            book.follow(K.QC, failing.cue, check=failing.check, min_s=failing.min_s)


def report_cues(video: LiveVideoCues, meter: LiveAudioMeter | None, audio: AudioResult | None,
                quality: QualityResult, end_s: float) -> list[Cue]:
    """report.cues of the whole stream, once the meter's result is `audio`."""
    cues = [*existing_cues(quality, audio), *video.result(end_s)]
    if meter is not None:
        cues += meter.cues.result()
        if meter.loudness is not None:
            cues += meter.loudness.result()
    return in_order(cues)
