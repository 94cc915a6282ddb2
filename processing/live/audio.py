"""The file pipeline's audio meter (processing/audio.py) kept across the runs of a live stream, read as
it goes: momentary and short-term loudness, and whether it is silent right now.

One meter for the whole session, so integrated loudness, loudness range and the silences cover the
whole stream: each run hands it that run's audio stream and where its clock lies on the session's
timeline.
"""

from __future__ import annotations

import math
from typing import Any

from av.audio.stream import AudioStream

from vidpulse.processing.audio import GATE_LUFS, AudioMeter


class LiveAudioMeter(AudioMeter):
    def __init__(self, stream: AudioStream, offset_s: float) -> None:
        super().__init__(stream, offset_s)
        self.momentary_lufs: float | None = None
        self.short_term_lufs: float | None = None
        self.measured_to_s = 0.0  # the end of the audio measured so far, on the session's timeline

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

    def _read(self, out: Any) -> None:
        super()._read(out)
        meta = out.metadata
        if "lavfi.r128.M" in meta:
            self.momentary_lufs = _lufs(meta["lavfi.r128.M"])
            self.short_term_lufs = _lufs(meta.get("lavfi.r128.S", "-inf"))
        self.measured_to_s = max(self.measured_to_s, self._end_s)
        # The file pipeline keeps the short-term series for its timeline; a live session samples it
        # once a second itself (levels), so the series must not grow for as long as the stream runs.
        self._series.clear()


def _lufs(raw: str) -> float | None:
    value = float(raw)
    return round(value, 2) if math.isfinite(value) and value > GATE_LUFS else None
