"""The audio's technical cues: audio_phase (left and right out of phase) and channel_silent (one
channel silent while another is not), and the loudness cues of a QC profile's range.

`AudioCues.feed` listens to the AudioMeter (audio.py), which hands it every decoded frame with its
samples already converted for the clipping count: one conversion for both. The samples are summed
in WINDOW_S windows, sample-exact across frames: each channel's mean square and the left-right
product, so the correlation of a window is sum(LR) / sqrt(sum(LL) sum(RR)), -1 for a channel
inverted against the other. FFmpeg's aphasemeter measures the same correlation, per audio frame
rather than sample-exact windows, and alone costs about what both cues cost here, which also need
each channel's level (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import av
import numpy as np
from av.audio.frame import AudioFrame

from vidpulse.processing.audio import SILENCE_NOISE_DB
from vidpulse.processing.cues import Cue, CueTrack, Run
from vidpulse.processing.truepeak import TruePeaks

WINDOW_S = 0.05
# A channel is silent below silencedetect's level (audio.py); another is sounding from 10 dB above it.
SILENT_DB = SILENCE_NOISE_DB
SOUNDING_DB = SILENCE_NOISE_DB + 10
# Left and right are out of phase when their correlation is below this (an inverted channel: -1).
PHASE_LIMIT = -0.5
MIN_S = 0.5
MERGE_S = 0.2
# A loudness cue's short-term loudness stays outside the profile's range this long at least.
LOUDNESS_MIN_S = 1.0
# Windows with a true peak over the limit closer than this are one span of them.
PEAK_MERGE_S = 1.0
# The low-frequency effects channel is silent in most programmes: never a channel_silent cue.
_NOT_SILENT = {"LFE", "LFE2", "LFE1"}
# FFmpeg's default layout for a number of channels.
_USUAL_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


@dataclass(frozen=True, slots=True)
class _Window:
    start_s: float
    end_s: float
    level_db: list[float]  # per channel, RMS in dB of full scale
    correlation: float | None  # of the first two channels, when both sound


class AudioCues:
    """Fed by AudioMeter.listeners; `result` once the audio is done. With `peak_limit_dbtp`, the
    windows whose true peak (truepeak.py) is over it are tracked as well (a live session's true-peak
    check; a file's check reads the meter's true peak of the whole file)."""

    def __init__(self, peak_limit_dbtp: float | None = None) -> None:
        self.peak_limit_dbtp = peak_limit_dbtp
        self._peaks: TruePeaks | None = None
        self._peak = 0.0  # the window's true peak so far, linear
        self._over: CueTrack[float] = CueTrack(0.0, PEAK_MERGE_S, max)
        self._channels: list[str] = []
        self._size = 0  # samples a window
        self._squares = np.zeros(0)
        self._product = 0.0
        self._filled = 0
        self._start_s = 0.0
        self._rate = 0
        self._phase: CueTrack[float] = CueTrack(MIN_S, MERGE_S, min)
        self._silent: list[CueTrack[float]] = []

    def feed(self, frame: AudioFrame, samples: np.ndarray, time_s: float) -> None:
        if not self._channels:
            self._start(frame, time_s)
        if len(frame.layout.channels) != len(self._channels) or frame.sample_rate != self._rate:
            return  # a mid-stream format change: the meter ignores it too
        data = _planar(samples, frame)
        offset, count = 0, data.shape[1]
        while offset < count:
            if not self._filled:
                self._start_s = time_s + offset / self._rate
            take = min(self._size - self._filled, count - offset)
            chunk = data[:, offset : offset + take]
            self._squares += np.einsum("ij,ij->i", chunk, chunk)
            if self._peaks is not None:
                self._peak = max(self._peak, self._peaks.peak(chunk))
            if len(self._channels) > 1:
                self._product += float(chunk[0] @ chunk[1])
            self._filled += take
            offset += take
            if self._filled == self._size:
                self._close()

    def _start(self, frame: AudioFrame, time_s: float) -> None:
        names = [c.name for c in frame.layout.channels]
        usual = _USUAL_LAYOUTS.get(len(names))
        if "NONE" in names and usual is not None:  # channels without positions (PCM in some containers)
            names = [c.name for c in av.AudioLayout(usual).channels]
        self._channels = names
        self._rate = frame.sample_rate
        self._size = max(1, round(self._rate * WINDOW_S))
        self._squares = np.zeros(len(self._channels))
        self._silent = [CueTrack(MIN_S, MERGE_S, min) for _ in self._channels]
        self._start_s = time_s
        if self.peak_limit_dbtp is not None:
            self._peaks = TruePeaks(len(self._channels), 10 ** (self.peak_limit_dbtp / 20))

    def _close(self) -> None:
        window = self._window()
        self._squares[:] = 0.0
        self._product, self._filled = 0.0, 0
        levels = window.level_db
        for k, (name, level) in enumerate(zip(self._channels, levels, strict=True)):
            others = max((v for j, v in enumerate(levels) if j != k), default=-math.inf)
            silent = name not in _NOT_SILENT and level < SILENT_DB and others >= SOUNDING_DB
            self._silent[k].update(window.start_s, window.end_s, silent, others - level)
        correlation = window.correlation
        if correlation is not None:
            self._phase.update(window.start_s, window.end_s, correlation < PHASE_LIMIT, correlation)
        if self._peaks is not None and self.peak_limit_dbtp is not None:
            peak_db = 20 * math.log10(self._peak) if self._peak > 0 else -math.inf
            self._over.update(window.start_s, window.end_s, peak_db > self.peak_limit_dbtp, peak_db)
            self._peak = 0.0

    def _window(self) -> _Window:
        mean = self._squares / max(1, self._filled)
        levels = [10 * math.log10(m) if m > 0 else -math.inf for m in mean]
        correlation = None
        if len(levels) > 1 and min(levels[:2]) >= SOUNDING_DB:
            correlation = max(-1.0, min(1.0, self._product / math.sqrt(self._squares[0] * self._squares[1])))
        end_s = self._start_s + self._filled / self._rate
        return _Window(self._start_s, end_s, levels, correlation)

    def ongoing(self) -> tuple[Cue | None, list[Cue | None]]:
        """The audio_phase cue in progress, and each channel's channel_silent one, as far as they go."""
        phase = self._phase.ongoing()
        silent = [track.ongoing() for track in self._silent]
        return (None if phase is None else self._phase_cue(phase),
                [None if run is None else self._silent_cue(k, run) for k, run in enumerate(silent)])

    def peak_over(self) -> Cue | None:
        """Windows whose true peak is over `peak_limit_dbtp` in progress, closer than PEAK_MERGE_S:
        a peak has no duration, so a span of them is one from its first window. Its confidence is
        1; its detail the highest peak, dBTP."""
        run = self._over.ongoing()
        if run is None:
            return None
        return _rounded(Cue("true_peak", run.start_s, run.end_s, 1.0, {"true_peak_dbtp": round(run.value, 2)}))

    def result(self) -> list[Cue]:
        # A last window at least half full counts; less is too little to judge.
        if self._filled * 2 >= self._size:
            self._close()
        cues = [self._phase_cue(run) for run in self._phase.finish()]
        for k, track in enumerate(self._silent):
            cues += [self._silent_cue(k, run) for run in track.finish()]
        return cues

    def _phase_cue(self, run: Run[float]) -> Cue:
        return _rounded(Cue("audio_phase", run.start_s, run.end_s, run.share * min(1.0, -run.value),
                            {"correlation": round(run.value, 3), "channels": self._channels[:2]}))

    def _silent_cue(self, k: int, run: Run[float]) -> Cue:
        return _rounded(Cue("channel_silent", run.start_s, run.end_s, run.share,
                            {"channel": k, "name": self._channels[k]}))


class LoudnessTrack:
    """The short-term loudness, a value every `step_s` (audio.AudioResult.short_term), outside [low,
    high] for LOUDNESS_MIN_S at least: the loudness cues; the detail has the value furthest out."""

    def __init__(self, low: float, high: float, step_s: float) -> None:
        self.low, self.high = low, high
        self._step_s = step_s
        self._track: CueTrack[float] = CueTrack(LOUDNESS_MIN_S, step_s, self._further)

    def update(self, time_s: float, lufs: float | None) -> None:
        outside = lufs is not None and not self.low <= lufs <= self.high
        self._track.update(time_s, time_s + self._step_s, outside, lufs)

    def ongoing(self) -> Cue | None:
        run = self._track.ongoing()
        return None if run is None else self._cue(run)

    def result(self) -> list[Cue]:
        return [self._cue(run) for run in self._track.finish()]

    def _cue(self, run: Run[float]) -> Cue:
        excess = min(1.0, _excess(run.value, self.low, self.high))
        return _rounded(Cue("loudness", run.start_s, run.end_s, run.share * excess,
                            {"short_term_lufs": round(run.value, 2), "low": self.low, "high": self.high}))

    def _further(self, a: float, b: float) -> float:
        return a if _excess(a, self.low, self.high) >= _excess(b, self.low, self.high) else b


def loudness_cues(
    short_term: Sequence[tuple[float, float | None]], low: float, high: float, step_s: float
) -> list[Cue]:
    """The loudness cues of a whole short-term series."""
    track = LoudnessTrack(low, high, step_s)
    for time_s, lufs in short_term:
        track.update(time_s, lufs)
    return track.result()


def _excess(lufs: float, low: float, high: float) -> float:
    """How far outside [low, high], in LU."""
    return max(low - lufs, lufs - high, 0.0)


def _planar(samples: np.ndarray, frame: AudioFrame) -> np.ndarray:
    """(channels, samples) as float32 at full scale 1 (a window's sums stay well within its precision)."""
    data = samples if frame.format.is_planar else samples.reshape(-1, len(frame.layout.channels)).T
    if data.dtype.kind in "iu":
        return data.astype(np.float32) / np.float32(np.iinfo(data.dtype.type).max)
    return data.astype(np.float32, copy=False)


def _rounded(cue: Cue) -> Cue:
    """Audio times to the millisecond, as report.audio gives them."""
    return Cue(cue.type, round(cue.start_s, 3), round(cue.end_s, 3), cue.confidence, cue.detail)
