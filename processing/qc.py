"""Delivery checks: the option qc_profile's verdict on a file (report.qc).

A profile sets a loudness target with its tolerance and a true-peak ceiling (EBU R 128:
-23 LUFS ±1, -1 dBTP; ATSC A/85: -24 LKFS ±2, -2 dBTP; a streaming service's -14 LUFS ±1,
-1 dBTP); broadcast_hd adds, on EBU R 128, the picture checks of a broadcast master: no
out_of_range cue, interlacing as the stream flags it, and no colour bars or black longer than
BREAK_S inside the programme (a leader of bars and black before it, and black after it, are
not inside). The loudness cues (short-term loudness outside the target's range) come from the
same profile, so they exist only when one is chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vidpulse.processing.analyzers.cues.interlace import InterlaceDetector
from vidpulse.processing.audio import SERIES_STEP_S, AudioResult
from vidpulse.processing.audio_cues import loudness_cues
from vidpulse.processing.cues import Cue
from vidpulse.processing.schema_cues import QcCheckId

# Colour bars or black longer than this inside the programme fail broadcast_hd.
BREAK_S = 2.0
# Cues closer than this (a frame at 25 fps, and rounding) chain into the leader or the tail.
_CHAIN_S = 0.05


@dataclass(frozen=True)
class Profile:
    target_lufs: float
    tolerance_lu: float
    max_true_peak_dbtp: float
    broadcast: bool = False  # the picture checks of broadcast_hd

    @property
    def loudness_range(self) -> tuple[float, float]:
        return self.target_lufs - self.tolerance_lu, self.target_lufs + self.tolerance_lu


PROFILES = {
    "ebu_r128": Profile(-23.0, 1.0, -1.0),
    "atsc_a85": Profile(-24.0, 2.0, -2.0),
    "streaming": Profile(-14.0, 1.0, -1.0),
    "broadcast_hd": Profile(-23.0, 1.0, -1.0, broadcast=True),
}


def profile_cues(name: str, audio: AudioResult | None) -> list[Cue]:
    """The loudness cues of profile `name` (none for `none` or without sound)."""
    profile = PROFILES.get(name)
    if profile is None or audio is None:
        return []
    return loudness_cues(audio.short_term, *profile.loudness_range, SERIES_STEP_S)


def assess(
    name: str, cues: Sequence[Cue], audio: AudioResult | None, interlace: InterlaceDetector, span: tuple[float, float]
) -> dict[str, Any] | None:
    """report.qc for profile `name` (None for `none`): `cues` are the report's, `span` the analysed
    [start_s, end_s)."""
    profile = PROFILES.get(name)
    if profile is None:
        return None
    checks = [*_loudness_checks(profile, cues, audio)]
    if profile.broadcast:
        checks += _picture_checks(cues, interlace, span)
    return {"profile": name, "passed": all(c["passed"] for c in checks), "checks": checks}


def _loudness_checks(profile: Profile, cues: Sequence[Cue], audio: AudioResult | None) -> list[dict[str, Any]]:
    """Integrated loudness in range (a file without sound, or silent, has none and fails), and
    the true peak at or under the ceiling."""
    low, high = profile.loudness_range
    integrated = None if audio is None else audio.integrated_lufs
    peak = None if audio is None else audio.true_peak_dbtp
    return [
        _check(QcCheckId.INTEGRATED_LOUDNESS, integrated is not None and low <= integrated <= high, _round(integrated),
               [low, high], [c for c in cues if c.type == "loudness"]),
        _check(QcCheckId.TRUE_PEAK, peak is None or peak <= profile.max_true_peak_dbtp, _round(peak),
               profile.max_true_peak_dbtp, []),
    ]


def _picture_checks(
    cues: Sequence[Cue], interlace: InterlaceDetector, span: tuple[float, float]
) -> list[dict[str, Any]]:
    out_of_range = [c for c in cues if c.type == "out_of_range"]
    checks = [_check(QcCheckId.OUT_OF_RANGE, not out_of_range, round(sum(c.end_s - c.start_s for c in out_of_range), 3),
                     0.0, out_of_range)]
    checks.append(_interlace_check(cues, interlace))
    inside = programme(cues, span)
    for check in (QcCheckId.COLOR_BARS, QcCheckId.BLACK):
        found = [c for c in cues if c.type == check.value and inside[0] <= c.start_s and c.end_s <= inside[1]]
        longest = max((c.end_s - c.start_s for c in found), default=0.0)
        too_long = [c for c in found if c.end_s - c.start_s > BREAK_S]
        checks.append(_check(check, not too_long, round(longest, 3), BREAK_S, too_long))
    return checks


def _interlace_check(cues: Sequence[Cue], interlace: InterlaceDetector) -> dict[str, Any]:
    """The picture's scan against the flag: combing in a progressive (or unflagged) stream fails,
    and so does an interlaced flag on pictures idet finds progressive, or the other field order."""
    combed = [c for c in cues if c.type == "interlaced"]
    flagged = interlace.flagged
    verdicts = interlace.verdicts
    if combed:
        orders = {str(c.detail["field_order"]) for c in combed}
        detected = orders.pop() if len(orders) == 1 else "mixed"
    elif verdicts["progressive"] > verdicts["tff"] + verdicts["bff"]:
        detected = "progressive"
    else:
        detected = "undetermined"  # no motion to tell by
    if flagged in ("progressive", "unknown"):
        passed = not combed
    elif detected == "progressive":
        passed = False
    else:
        passed = detected in ("undetermined", flagged) or (flagged == "interlaced" and detected != "mixed")
    wrong = [c for c in combed if c.detail["flag_disagrees"] or flagged == "unknown"]
    return _check(QcCheckId.INTERLACE_FLAG, passed, detected, flagged, wrong)


def programme(cues: Sequence[Cue], span: tuple[float, float]) -> tuple[float, float]:
    """The programme inside [start, end): without the leader of colour bars and black it opens
    with, nor the black it closes with."""
    leader = sorted((c for c in cues if c.type in ("color_bars", "black")), key=lambda c: c.start_s)
    start, end = span
    for cue in leader:
        if cue.start_s > start + _CHAIN_S:
            break
        start = max(start, cue.end_s)
    for cue in sorted((c for c in cues if c.type == "black"), key=lambda c: -c.end_s):
        if cue.end_s < end - _CHAIN_S:
            break
        end = min(end, cue.start_s)
    return start, max(start, end)


def _check(id_: QcCheckId, passed: bool, value: float | str | None, limit: float | list[float] | str,
           segments: Sequence[Cue]) -> dict[str, Any]:
    return {"id": id_.value, "passed": passed, "value": value, "limit": limit,
            "segments": [{"start_s": round(c.start_s, 6), "end_s": round(c.end_s, 6)} for c in segments]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
