"""qc_profile: the loudness profiles on programmes of known loudness (against the FFmpeg command
line's ebur128), broadcast_hd's picture checks, and `vidpulse analyze --qc` exiting 3 on a fail."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.processing.conftest import analyse
from tests.processing.cues.clips import full_frame, run_ffmpeg, spliced, with_sound
from tests.support.videogen import Segment, tone, write_frames

FPS = 25
SIZE = (320, 180)


def _programme(tmp_path: Path, lufs: float, seconds: float = 8, name: str = "programme") -> Path:
    """Scenes with a steady stereo 1 kHz tone at `lufs` (EBU Tech 3341: its peak level in dBFS)."""
    video = tmp_path / f"{name}-video.mp4"
    frames = round(seconds * FPS)
    write_frames(video, itertools.chain(*(full_frame(25, SIZE, seed) for seed in range(frames // 25))), size=SIZE,
                 fps=FPS)
    return with_sound(video, tone(lufs, seconds), tmp_path / f"{name}.mp4")


def _checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["qc"]["checks"]}


def _cli_integrated(path: Path) -> float:
    log = run_ffmpeg("-nostats", "-i", path, "-af", "ebur128=peak=true", "-f", "null", "-")
    found = re.findall(r"I:\s+(-?[\d.]+) LUFS", log)
    return float(found[-1])


def test_minus_14_fails_ebu_r128_and_passes_streaming(tmp_path: Path) -> None:
    path = _programme(tmp_path, -14)
    assert _cli_integrated(path) == pytest.approx(-14, abs=0.5)
    ebu = analyse(path, tmp_path / "ebu", qc_profile="ebu_r128")
    assert ebu["qc"]["profile"] == "ebu_r128" and ebu["qc"]["passed"] is False
    checks = _checks(ebu)
    assert checks["integrated_loudness"]["passed"] is False and checks["integrated_loudness"]["limit"] == [-24, -22]
    assert checks["integrated_loudness"]["value"] == pytest.approx(_cli_integrated(path), abs=0.3)
    assert checks["true_peak"]["passed"] is True
    # The short-term loudness is out of range wherever it is measured: one loudness cue, the failing span.
    (loud,) = [c for c in ebu["cues"] if c["type"] == "loudness"]
    assert loud["end_s"] == pytest.approx(8.0, abs=0.2) and loud["start_s"] < 3.0
    assert loud["detail"]["low"] == -24 and loud["detail"]["short_term_lufs"] == pytest.approx(-14, abs=0.5)
    assert checks["integrated_loudness"]["segments"] == [{"start_s": loud["start_s"], "end_s": loud["end_s"]}]
    streaming = analyse(path, tmp_path / "streaming", qc_profile="streaming")
    assert streaming["qc"]["passed"] is True
    assert [c for c in streaming["cues"] if c["type"] == "loudness"] == []


def test_no_profile_no_verdict_nor_loudness_cues(tmp_path: Path) -> None:
    report = analyse(_programme(tmp_path, -14, seconds=4), tmp_path / "out")
    assert report["qc"] is None and {c["type"] for c in report["cues"]} == set()


@pytest.mark.parametrize(("profile", "passed"), [("ebu_r128", True), ("atsc_a85", True), ("streaming", False)])
def test_minus_23(tmp_path: Path, profile: str, passed: bool) -> None:
    report = analyse(_programme(tmp_path, -23, seconds=6), tmp_path / "out", qc_profile=profile)
    assert report["qc"]["passed"] is passed


def test_a_peak_over_the_ceiling(tmp_path: Path) -> None:
    video = tmp_path / "video.mp4"
    write_frames(video, full_frame(150, SIZE, 1), size=SIZE, fps=FPS)
    sound = tone(-23, 6)
    sound[:, 3 * 48000 : 3 * 48000 + 96] = tone(-0.5, 0.002)  # 2 ms at -0.5 dBFS: the integrated hardly moves
    path = with_sound(video, sound, tmp_path / "peak.mp4")
    atsc = _checks(analyse(path, tmp_path / "atsc", qc_profile="atsc_a85"))
    assert atsc["integrated_loudness"]["passed"] is True
    assert atsc["true_peak"]["passed"] is False and atsc["true_peak"]["limit"] == -2


def test_broadcast_hd_picture_checks(tmp_path: Path) -> None:
    # A leader (bars 2.4 s, black 1 s), the programme with 3 s of black inside, black at the end.
    frames = spliced([("smptehdbars", 60), Segment("black", 25), *(Segment("scene", 25, s) for s in (1, 2)),
                      Segment("black", 75), *(Segment("scene", 25, s) for s in (3, 4)), Segment("black", 50)], SIZE)
    video = tmp_path / "master-video.mp4"
    count = write_frames(video, frames, size=SIZE, fps=FPS)
    path = with_sound(video, tone(-23, count / FPS), tmp_path / "master.mp4")
    report = analyse(path, tmp_path / "out", qc_profile="broadcast_hd")
    checks = _checks(report)
    assert set(checks) == {"integrated_loudness", "true_peak", "out_of_range", "interlace_flag", "color_bars", "black"}
    assert checks["color_bars"]["passed"] is True and checks["out_of_range"]["passed"] is True
    assert checks["interlace_flag"]["passed"] is True and checks["interlace_flag"]["limit"] == "progressive"
    black = checks["black"]
    assert black["passed"] is False and black["value"] == pytest.approx(3.0, abs=0.05)
    assert len(black["segments"]) == 1 and black["segments"][0]["start_s"] == pytest.approx(5.4, abs=0.05)
    assert report["qc"]["passed"] is False


def test_broadcast_hd_interlace_flag(tmp_path: Path) -> None:
    def master(name: str, weave: str, flags: list[str]) -> dict[str, Any]:
        video = tmp_path / f"{name}-video.mp4"
        run_ffmpeg("-f", "lavfi", "-i", "testsrc=s=720x576:r=50", "-t", "3", "-vf", weave, "-c:v", "libx264",
                   "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", *flags, video)
        path = with_sound(video, tone(-23, 3), tmp_path / f"{name}.mp4")
        return _checks(analyse(path, tmp_path / name, qc_profile="broadcast_hd"))["interlace_flag"]

    interlaced = ["-flags", "+ildct+ilme", "-x264opts", "tff=1"]
    assert master("flagged", "interlace=scan=tff", interlaced)["passed"] is True
    wrong = master("progressive-flagged", "framestep=2", interlaced)
    assert wrong["passed"] is False and (wrong["value"], wrong["limit"]) == ("progressive", "tff")
    unflagged = master("unflagged", "interlace=scan=tff", [])
    assert unflagged["passed"] is False and (unflagged["value"], unflagged["limit"]) == ("tff", "progressive")
    assert unflagged["segments"]


def test_analyze_qc_exits_3_when_the_file_fails(tmp_path: Path) -> None:
    path = _programme(tmp_path, -14, seconds=4)
    cli = [sys.executable, "-m", "vidpulse.server.cli", "analyze", str(path)]
    failed = subprocess.run([*cli, "--out", str(tmp_path / "a"), "--qc", "ebu_r128"], capture_output=True, text=True,
                            timeout=120, check=False)
    assert failed.returncode == 3, failed.stderr
    assert "fails ebu_r128: integrated_loudness" in failed.stderr
    passed = subprocess.run([*cli, "--out", str(tmp_path / "b"), "--qc", "streaming", "--json"], capture_output=True,
                            text=True, timeout=120, check=False)
    assert passed.returncode == 0, passed.stderr
    bad = subprocess.run([*cli, "--out", str(tmp_path / "c"), "--qc", "loud"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert bad.returncode == 1 and "qc_profile must be one of" in bad.stderr
