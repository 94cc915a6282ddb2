"""report.cues: today's quality and audio segments as cues, and the span tracker every detector
shares (merging close runs, dropping short ones)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.processing.conftest import analyse
from tests.support.videogen import Segment, Truth, silence, tone, write_video_with_audio
from vidpulse.processing.cues import CueTrack


def _spans(report: dict, kind: str) -> list[tuple[float, float]]:
    return [(c["start_s"], c["end_s"]) for c in report["cues"] if c["type"] == kind]


def test_quality_segments_are_cues(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    report = analyse(std_clip[0], tmp_path)
    cues = report["cues"]
    assert {c["type"] for c in cues} == {"black", "frozen"}
    for kind in ("black", "frozen", "blurry"):
        assert _spans(report, kind) == [(s["start_s"], s["end_s"]) for s in report["quality"][kind]]
    assert all(c["confidence"] == 1.0 and c["detail"] == {} for c in cues)
    assert [c["start_s"] for c in cues] == sorted(c["start_s"] for c in cues)


def test_silence_and_clipping_are_cues(tmp_path: Path) -> None:
    loud = np.clip(tone(0, 1) * 1.6, -1, 1)
    sound = np.concatenate([tone(-12, 2), silence(1), loud, tone(-12, 1)], axis=1)
    path = tmp_path / "sound.mkv"
    write_video_with_audio(path, [Segment("scene", 125, 1)], sound, size=(96, 64), codec="pcm_s16le")
    report = analyse(path, tmp_path / "out")
    audio = report["audio"]
    assert _spans(report, "silence") == [(s["start_s"], s["end_s"]) for s in audio["silence"]] != []
    clipping = [c for c in report["cues"] if c["type"] == "clipping"]
    assert [(c["start_s"], c["end_s"], c["detail"]["samples"]) for c in clipping] == [
        (s["start_s"], s["end_s"], s["samples"]) for s in audio["clipping"]
    ] != []


def test_track_merges_close_runs_and_drops_short_ones() -> None:
    track: CueTrack[float] = CueTrack(min_s=0.5, merge_s=0.1, fold=min)
    frame = 0.04
    flags = [True] * 10 + [False] * 2 + [True] * 10 + [False] * 5 + [True] * 3 + [False] * 10 + [True] * 20
    for i, flagged in enumerate(flags):
        track.update(i * frame, (i + 1) * frame, flagged, float(-i))
    runs = track.finish()
    # 10 flagged, a gap of 0.08 s merged, 10 more; then 3 frames (0.12 s) alone: dropped; 20 to the end.
    assert [(round(r.start_s, 3), round(r.end_s, 3)) for r in runs] == [(0.0, 0.88), (1.6, 2.4)]
    assert runs[0].share == pytest.approx(20 / 22)
    assert runs[0].value == -21.0 and runs[1].share == 1.0


def test_track_in_progress_is_the_finished_run_so_far() -> None:
    """What a live session asks after each unit: the run in progress once `min_s` long, as the finished
    track gives it so far, until no unit can extend it; the runs come out the same."""
    frame = 0.04
    flags = [True] * 10 + [False] * 2 + [True] * 10 + [False] * 5 + [True] * 3 + [False] * 10 + [True] * 20
    asked: CueTrack[float] = CueTrack(min_s=0.5, merge_s=0.1, fold=min)
    alone: CueTrack[float] = CueTrack(min_s=0.5, merge_s=0.1, fold=min)
    seen = []
    for i, flagged in enumerate(flags):
        for track in (asked, alone):
            track.update(i * frame, (i + 1) * frame, flagged, float(-i))
        run = asked.ongoing()
        seen.append(None if run is None else (round(run.start_s, 3), round(run.end_s, 3)))
    assert seen[11] is None  # 0.4 s so far: not yet min_s
    assert seen[12] == (0.0, 0.52)  # on across the two unflagged frames
    assert seen[21] == seen[22] == seen[23] == (0.0, 0.88)  # two unflagged frames after: it may still go on
    assert seen[24] is None  # three: over, closed
    assert seen[27:30] == [None] * 3  # the three lone frames are never min_s long
    assert seen[-1] == (1.6, 2.4)
    assert [(r.start_s, r.end_s) for r in asked.finish()] == [(r.start_s, r.end_s) for r in alone.finish()]
