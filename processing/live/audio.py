"""The file pipeline's audio meter (processing/audio.py) kept across the runs of a live stream, read as
it goes: momentary and short-term loudness, whether it is silent right now, and the audio cues
(audio_cues.py) in progress.

One meter for the whole session, so integrated loudness, loudness range, the silences and the cues cover
the whole stream: each run hands it that run's audio stream and where its clock lies on the session's
timeline. With a delivery profile, its loudness cues are tracked from the short-term loudness as it is
measured, and its true-peak limit watched window by window.
"""

from __future__ import annotations

import math
from typing import Any

from av.audio.stream import AudioStream

from vidpulse.processing.audio import CLIP_MERGE_S, GATE_LUFS, SERIES_STEP_S, AudioMeter
from vidpulse.processing.audio_cues import AudioCues, LoudnessTrack
from vidpulse.processing.cues import Cue
from vidpulse.processing.qc import Profile


class LiveAudioMeter(AudioMeter):
    def __init__(self, stream: AudioStream, offset_s: float, profile: Profile | None = None) -> None:
        super().__init__(stream, offset_s)
        self.momentary_lufs: float | None = None
        self.short_term_lufs: float | None = None
        self.measured_to_s = 0.0  # the end of the audio measured so far, on the session's timeline
        self.cues = AudioCues(None if profile is None else profile.max_true_peak_dbtp)
        self.listeners.append(self.cues.feed)
        self.loudness = None if profile is None else LoudnessTrack(*profile.loudness_range, SERIES_STEP_S)

    def follow(self, stream: AudioStream, offset_s: float) -> None:
        """The next run's audio: its stream, and its clock's offset from the session's timeline."""
        self.stream = stream
        self._offset = offset_s

    def skip(self, seconds: float) -> None:
        """Audio that never comes (a gap, a lost source): later measurements move on by this much."""
        self._first_s += seconds

    def silent_since(self) -> float | None:
        """Where the silence going on now began (once it lasted the silence detector's minimum)."""
        return self._silent_since

    def last_silence_end(self) -> float | None:
        return self._silence[-1][1] if self._silence else None

    def clipping(self) -> Cue | None:
        """The clipping span in progress (the next clipped run may still join it), as far as it goes."""
        if not self._clipped:
            return None
        start_s, end_s, samples = self._clipped[-1]
        if self._end_s - end_s > CLIP_MERGE_S:
            return None
        return Cue("clipping", start_s, end_s, 1.0, {"samples": samples})

    def _read(self, out: Any) -> None:
        super()._read(out)
        meta = out.metadata
        if "lavfi.r128.M" in meta:
            self.momentary_lufs = _lufs(meta["lavfi.r128.M"])
            self.short_term_lufs = _lufs(meta.get("lavfi.r128.S", "-inf"))
        self.measured_to_s = max(self.measured_to_s, self._end_s)
        if self.loudness is not None:
            for time_s, lufs in self._series:
                self.loudness.update(time_s, lufs)
        # The file pipeline keeps the short-term series for its timeline; a live session samples it
        # once a second itself (levels), so the series must not grow for as long as the stream runs.
        self._series.clear()


def _lufs(raw: str) -> float | None:
    value = float(raw)
    return round(value, 2) if math.isfinite(value) and value > GATE_LUFS else None
