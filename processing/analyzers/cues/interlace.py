"""Interlaced: combing, as FFmpeg's idet sees it on each picture (probe.FieldMeter), with its field
order, and whether the stream's own flag says otherwise.

idet's single-picture verdict (tff, bff, progressive, undetermined) keeps a cue's edges on
their frames; its multi-picture verdict waits for three agreeing pictures. A picture without
motion between its fields looks progressive even when it is interlaced, so verdicts merge over
gaps of up to MERGE_S, and a run is a cue only when most of it is combed: idet's rare misfires on
progressive pictures (fine horizontal detail moving) stay single frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from av.video.stream import VideoStream

from vidpulse.processing.analyzers.cues.probe import Prober, probed_of
from vidpulse.processing.cues import Cue, CueTrack, Run
from vidpulse.processing.features import Measured

MIN_S = 0.5
MERGE_S = 1.0
# Of a run, at least this share is combed pictures.
MIN_SHARE = 0.5
# AVFieldOrder, as the display shows the fields: TT and BT put the top field first.
_FIELD_ORDER = {1: "progressive", 2: "tff", 3: "bff", 4: "bff", 5: "tff"}
VERDICTS = ("tff", "bff", "progressive", "undetermined")


@dataclass(frozen=True, slots=True)
class _Orders:
    tff: int
    bff: int

    def __add__(self, other: _Orders) -> _Orders:
        return _Orders(self.tff + other.tff, self.bff + other.bff)


def stream_scan(stream: VideoStream) -> str:
    """What the stream says of its scan from its codec parameters: progressive, tff, bff, or unknown."""
    ctx = stream.codec_context
    return _FIELD_ORDER.get(int(getattr(ctx, "field_order", 0) or 0), "unknown")


class InterlaceDetector:
    """An Analyzer (analyzers/__init__.py) whose result is the interlaced cues. idet's verdict on a
    frame comes with the next frame's probe, the last one from the prober at the end."""

    def __init__(self, fps: float, prober: Prober, scan: str = "unknown") -> None:
        self._frame_s = 1.0 / fps
        self._prober = prober
        self._scan = scan
        self._track: CueTrack[_Orders] = CueTrack(MIN_S, MERGE_S, _Orders.__add__)
        self._previous: float | None = None  # time of the frame whose verdict comes next
        self.verdicts = dict.fromkeys(VERDICTS, 0)
        self._flagged = 0  # pictures that say they are interlaced
        self._pictures = 0

    def update(self, measured: Measured) -> None:
        probed = probed_of(measured.frame.probed)
        if probed is None:
            return
        self._pictures += 1
        self._flagged += probed.interlaced_flag
        if self._previous is not None:
            self._verdict(self._previous, probed.field)
        self._previous = measured.frame.time_s

    def _verdict(self, time_s: float, field: str | None) -> None:
        if field not in self.verdicts:
            return
        self.verdicts[field] += 1
        combed = field in ("tff", "bff")
        self._track.update(time_s, time_s + self._frame_s, combed, _Orders(field == "tff", field == "bff"))

    @property
    def flagged(self) -> str:
        """What the stream says: its codec parameters' field order, else its pictures' flags."""
        if self._scan != "unknown":
            return self._scan
        if not self._pictures:
            return "unknown"
        return "interlaced" if self._flagged * 2 > self._pictures else "progressive"

    def ongoing(self) -> Cue | None:
        """The cue in progress, as far as it goes (a live session's incidents)."""
        run = self._track.ongoing()
        return None if run is None else self._cue(run)

    def result(self) -> list[Cue]:
        if self._previous is not None:
            self._verdict(self._previous, self._prober.fields.finish())
            self._previous = None
        return [cue for run in self._track.finish() if (cue := self._cue(run)) is not None]

    def _cue(self, run: Run[_Orders]) -> Cue | None:
        if run.share < MIN_SHARE:
            return None
        orders = run.value
        order = "tff" if orders.tff >= orders.bff else "bff"
        agree = max(orders.tff, orders.bff) / max(1, orders.tff + orders.bff)
        return Cue("interlaced", run.start_s, run.end_s, run.share * agree, self._detail(order))

    def _detail(self, order: str) -> dict[str, Any]:
        flagged = self.flagged
        disagrees = flagged == "progressive" or (flagged in ("tff", "bff") and flagged != order)
        return {"field_order": order, "flagged": flagged, "flag_disagrees": disagrees}
