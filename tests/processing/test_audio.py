"""Audio in the decode pass: loudness against signals of known loudness and against the FFmpeg
command line's own ebur128, silence, clipping, and `audio: null` without sound."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.processing.conftest import analyse
from tests.support.servers import need
from tests.support.videogen import Segment, silence, tone, write_video, write_video_with_audio
from vidpulse.processing import pipeline
from vidpulse.processing.audio import SERIES_STEP_S, SHORT_TERM_S
from vidpulse.processing.decode import Decoder

SMALL = (96, 64)


def _clip(tmp_path: Path, sound: np.ndarray, name: str = "sound.mp4", **kw: Any) -> Path:
    seconds = sound.shape[1] / 48000
    path = tmp_path / name
    write_video_with_audio(path, [Segment("scene", round(seconds * 25), 1)], sound, size=SMALL, **kw)
    return path


def _audio(path: Path, out: Path) -> dict[str, Any]:
    audio = analyse(path, out)["audio"]
    assert audio is not None
    return audio


def test_a_steady_tone_has_its_known_loudness(tmp_path: Path) -> None:
    # EBU Tech 3341 case 1: a stereo 1 kHz sine at -23 dBFS is -23 LUFS, and flat.
    audio = _audio(_clip(tmp_path, tone(-23, 10)), tmp_path / "out")
    loudness = audio["loudness"]
    assert loudness["integrated_lufs"] == pytest.approx(-23, abs=0.5)
    assert loudness["true_peak_dbtp"] == pytest.approx(-23, abs=0.5)
    assert loudness["range_lu"] < 1
    assert audio["silence"] == [] and audio["clipping"] == []
    assert audio["channels"] == 2 and audio["sample_rate"] == 48000


def test_loudness_range_of_two_levels(tmp_path: Path) -> None:
    # EBU Tech 3342 case 1: 20 dB apart... here 10: -20 dBFS then -30 dBFS give an LRA of 10 LU.
    sound = np.concatenate([tone(-20, 10), tone(-30, 10)], axis=1)
    audio = _audio(_clip(tmp_path, sound), tmp_path / "out")
    assert audio["loudness"]["range_lu"] == pytest.approx(10, abs=1)
    assert audio["loudness"]["true_peak_dbtp"] == pytest.approx(-20, abs=0.5)


def test_silence_segments(tmp_path: Path) -> None:
    sound = np.concatenate([tone(-20, 3), silence(2), tone(-20, 2), silence(1.5)], axis=1)
    audio = _audio(_clip(tmp_path, sound), tmp_path / "out")
    spans = [(s["start_s"], s["end_s"]) for s in audio["silence"]]
    assert len(spans) == 2, spans
    assert spans[0] == pytest.approx((3.0, 5.0), abs=0.1)
    # Silence running to the end closes with the sound.
    assert spans[1] == pytest.approx((7.0, 8.5), abs=0.1)


def test_clipping_found_where_the_wave_is_cut_off(tmp_path: Path) -> None:
    loud = np.clip(tone(0, 1) * 1.6, -1, 1)  # a sine driven past full scale: flat tops
    sound = np.concatenate([tone(-12, 2), loud, tone(-12, 2)], axis=1)
    path = _clip(tmp_path, sound, "clipped.mkv", codec="pcm_s16le")
    audio = _audio(path, tmp_path / "out")
    (segment,) = audio["clipping"]
    assert segment["start_s"] == pytest.approx(2.0, abs=0.05)
    assert segment["end_s"] == pytest.approx(3.0, abs=0.05)
    assert segment["samples"] > 1000
    assert audio["loudness"]["true_peak_dbtp"] > -0.5


def test_no_audio_stream_is_null(tmp_path: Path) -> None:
    path = tmp_path / "mute.mp4"
    write_video(path, [Segment("scene", 10, 1)], size=SMALL)
    assert analyse(path, tmp_path / "out")["audio"] is None


def test_audio_follows_the_analysed_span(tmp_path: Path) -> None:
    sound = np.concatenate([silence(3), tone(-20, 3)], axis=1)
    report = analyse(_clip(tmp_path, sound), tmp_path / "out", start_s=2.0, end_s=5.0)
    (quiet,) = report["audio"]["silence"]
    assert quiet["start_s"] == pytest.approx(2.0, abs=0.1) and quiet["end_s"] == pytest.approx(3.0, abs=0.1)


def _ffmpeg_ebur128(path: Path) -> dict[str, float]:
    done = subprocess.run(
        ["ffmpeg", "-nostats", "-hide_banner", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    summary = done.stderr[done.stderr.rindex("Summary:") :]

    def value(label: str) -> float:
        match = re.search(rf"{label}:\s+(-?[\d.]+)", summary)
        assert match, summary
        return float(match.group(1))

    return {"I": value("I"), "LRA": value("LRA"), "Peak": value("Peak")}


def test_agrees_with_the_ffmpeg_command_line(tmp_path: Path) -> None:
    need("ffmpeg", shutil.which("ffmpeg") is not None)
    rng = np.random.default_rng(7)
    # Speech-like: noise bursts at changing levels, with pauses.
    parts = []
    for level in (-18, -26, -14, -30, -22):
        burst = rng.normal(0, 10 ** (level / 20), size=(2, 48000 * 2)).astype(np.float32)
        parts += [np.clip(burst, -1, 1), silence(0.7)]
    path = _clip(tmp_path, np.concatenate(parts, axis=1))
    ours = _audio(path, tmp_path / "out")["loudness"]
    theirs = _ffmpeg_ebur128(path)
    assert ours["integrated_lufs"] == pytest.approx(theirs["I"], abs=1.0)
    assert ours["range_lu"] == pytest.approx(theirs["LRA"], abs=1.0)
    assert ours["true_peak_dbtp"] == pytest.approx(theirs["Peak"], abs=1.0)


def test_short_term_loudness_per_frame_in_the_csv(tmp_path: Path) -> None:
    sound = np.concatenate([tone(-20, 4), tone(-30, 4)], axis=1)
    analyse(_clip(tmp_path, sound), tmp_path / "out")
    rows = (tmp_path / "out" / "frames.csv").read_text().splitlines()[1:]
    values = {round(float(r.split(",")[1])): r.split(",")[-1] for r in rows}
    assert values[0] == ""  # no full 3 s window yet
    assert float(values[3]) == pytest.approx(-20, abs=0.5)
    assert float(values[7]) == pytest.approx(-30, abs=0.5)


def _short_term(path: Path) -> list[tuple[float, float | None]]:
    """The series the timeline's loudness lane is drawn from."""
    with Decoder(path, 64, audio=True) as decoder:
        for _ in decoder.frames():
            pass
        assert decoder.audio is not None
        return decoder.audio.result().short_term


def test_the_short_term_series_has_no_point_while_its_window_fills(tmp_path: Path) -> None:
    """A point is a measure: None is silence (below the gate), not "not measured yet". While the
    first 3 s window fills there is no point, so the timeline draws no silence there."""
    sound = np.concatenate([tone(-12, 5), silence(4)], axis=1)
    series = _short_term(_clip(tmp_path, sound))
    assert series[0][0] == pytest.approx(SHORT_TERM_S - SERIES_STEP_S, abs=1e-6)
    loud = [value for time_s, value in series if time_s < 5]
    assert loud and all(value is not None and value > -13 for value in loud)
    assert series[-1][1] is None  # after 3 s of silence: silence


def test_the_timeline_gets_the_series_and_draws_nothing_before_it(tmp_path: Path) -> None:
    sound = tone(-12, 6)
    path = _clip(tmp_path, sound)
    drawn: list[list[tuple[float, float | None]]] = []
    original = pipeline.timeline_png

    def spy(*args: Any, loudness: list[tuple[float, float | None]] | None = None, **kw: Any) -> bytes:
        drawn.append(list(loudness or []))
        return original(*args, loudness=loudness, **kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "timeline_png", spy)
        analyse(path, tmp_path / "out")
    (points,) = drawn
    assert points == _short_term(path)
    assert min(t for t, _ in points) >= SHORT_TERM_S - SERIES_STEP_S - 1e-6
