"""A live session's delivery checks (the option qc_profile, processing/qc.py) as they fail and pass
again: each failing check is an incident of kind `qc`, its `check` the check's id, its detail what was
measured so far against the check's limit.

What a check means while a stream runs, judged on what the cue detectors have in progress:
- integrated_loudness: a `loudness` cue in progress (the short-term loudness outside the profile's range
  for 1 s); the integrated loudness of the whole stream is the report's check.
- true_peak: 50 ms windows whose true peak is over the limit, closer than 1 s to each other; a peak has
  no duration, so its incident opens with the first such window, whatever incident_min_s.
- broadcast_hd: out_of_range (an `out_of_range` cue), interlace_flag (an `interlaced` cue in a stream
  flagged progressive, or not flagged, or with the other field order), and color_bars or black lasting
  more than BREAK_S inside the programme, that is after the leader of bars and black the stream opens
  with. A file's closing black is not inside its programme; a stream's cannot be told from a break
  while it lasts, so it counts.

Invariant: a qc incident is open exactly while its check fails on what is in progress.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vidpulse.processing.cues import Cue
from vidpulse.processing.live.incidents import IncidentKind
from vidpulse.processing.qc import BREAK_S, PROFILES
from vidpulse.processing.schema_cues import QcCheckId


@dataclass(frozen=True)
class InProgress:
    """What is in progress after a frame, as the detectors see it."""

    video: Mapping[IncidentKind, Cue | None]  # the video cues, by type
    black: Cue | None
    loudness: Cue | None
    peak: Cue | None  # windows over the true-peak limit
    leader: bool  # the frame is black, or a still pattern of bands: it may belong to a leader


@dataclass(frozen=True)
class Failing:
    """A check and what fails it now (None: it passes); `min_s` how long before it is an incident
    (None: the session's incident_min_s)."""

    check: QcCheckId
    cue: Cue | None
    min_s: float | None = None


class LiveQc:
    def __init__(self, name: str) -> None:
        self.profile = PROFILES[name]
        self.programme_s: float | None = None  # where the programme began, once it has

    def checks(self, now: InProgress, time_s: float) -> list[Failing]:
        """Every check of the profile, after the frame at `time_s`."""
        if self.programme_s is None and not now.leader:
            self.programme_s = time_s
        profile = self.profile
        loudness = now.loudness
        peak = now.peak
        checks = [
            Failing(QcCheckId.INTEGRATED_LOUDNESS,
                    _fails(loudness, lambda c: c.detail["short_term_lufs"], list(profile.loudness_range))),
            Failing(QcCheckId.TRUE_PEAK, _fails(peak, lambda c: c.detail["true_peak_dbtp"],
                                                profile.max_true_peak_dbtp), min_s=0.0),
        ]
        if profile.broadcast:
            checks += self._picture(now)
        return checks

    def _picture(self, now: InProgress) -> list[Failing]:
        out_of_range = now.video.get(IncidentKind.OUT_OF_RANGE)
        combed = now.video.get(IncidentKind.INTERLACED)
        if combed is not None and not (combed.detail["flag_disagrees"] or combed.detail["flagged"] == "unknown"):
            combed = None
        return [
            Failing(QcCheckId.OUT_OF_RANGE, _fails(out_of_range, _seconds, 0.0)),
            Failing(QcCheckId.INTERLACE_FLAG,
                    _fails(combed, lambda c: c.detail["field_order"], None if combed is None
                           else str(combed.detail["flagged"]))),
            Failing(QcCheckId.COLOR_BARS, _fails(self._break(now.video.get(IncidentKind.COLOR_BARS)), _seconds,
                                                 BREAK_S)),
            Failing(QcCheckId.BLACK, _fails(self._break(now.black), _seconds, BREAK_S)),
        ]

    def _break(self, cue: Cue | None) -> Cue | None:
        """`cue` when it is a break longer than BREAK_S inside the programme."""
        inside = cue is not None and self.programme_s is not None and cue.start_s >= self.programme_s - 1e-6
        return cue if inside and cue is not None and cue.end_s - cue.start_s > BREAK_S else None


def _seconds(cue: Cue) -> float:
    return round(cue.end_s - cue.start_s, 3)


def _fails(cue: Cue | None, value: Any, limit: Any) -> Cue | None:
    """The failing check's cue: `cue`'s span and confidence, the value `value(cue)` against `limit`."""
    if cue is None:
        return None
    return Cue(IncidentKind.QC.value, cue.start_s, cue.end_s, cue.confidence, {"value": value(cue), "limit": limit})
