"""audio_phase and channel_silent: a stereo track with one channel inverted for a span, and one with
a channel silent for a span, found within 0.1 s; none on in-phase stereo or mono."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.processing.conftest import analyse
from tests.support.videogen import Segment, silence, tone, write_video_with_audio

RATE = 48000
AUDIO = {"silence", "clipping", "audio_phase", "channel_silent", "loudness"}


def _clip(tmp_path: Path, sound: np.ndarray, codec: str = "aac") -> Path:
    seconds = sound.shape[1] / RATE
    path = tmp_path / ("sound.mp4" if codec == "aac" else "sound.mkv")
    write_video_with_audio(path, [Segment("scene", round(seconds * 25), 1)], sound, size=(96, 64), codec=codec)
    return path


def _music(seconds: float, seed: int = 1) -> np.ndarray:
    """Two tones and noise common to both channels, and a little noise of each: in phase, not mono."""
    t = np.arange(round(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    common = 0.1 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.sin(2 * np.pi * 1230 * t) + rng.normal(0, 0.02, t.size)
    return np.stack([common + rng.normal(0, 0.01, t.size), common + rng.normal(0, 0.01, t.size)]).astype(np.float32)


def _cues(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in report["cues"] if c["type"] == kind]


@pytest.mark.parametrize("codec", ["aac", "pcm_s16le"])
def test_one_channel_inverted_for_a_span(tmp_path: Path, codec: str) -> None:
    sound = _music(6)
    sound[1, 2 * RATE : 4 * RATE] *= -1
    report = analyse(_clip(tmp_path, sound, codec), tmp_path / "out")
    (cue,) = _cues(report, "audio_phase")
    assert (cue["start_s"], cue["end_s"]) == pytest.approx((2.0, 4.0), abs=0.1)
    assert cue["detail"]["correlation"] < -0.9 and cue["detail"]["channels"] == ["FL", "FR"]
    assert cue["confidence"] > 0.9
    assert _cues(report, "channel_silent") == []


@pytest.mark.parametrize(("channel", "name"), [(0, "FL"), (1, "FR")])
def test_one_channel_silent_for_a_span(tmp_path: Path, channel: int, name: str) -> None:
    sound = _music(6)
    sound[channel, 1 * RATE : 4 * RATE] = 0
    report = analyse(_clip(tmp_path, sound), tmp_path / "out")
    (cue,) = _cues(report, "channel_silent")
    assert (cue["start_s"], cue["end_s"]) == pytest.approx((1.0, 4.0), abs=0.1)
    assert cue["detail"] == {"channel": channel, "name": name}
    assert _cues(report, "audio_phase") == [] and _cues(report, "silence") == []


def _audio_types(report: dict[str, Any]) -> list[str]:
    return [c["type"] for c in report["cues"] if c["type"] in AUDIO]


def test_no_cue_on_in_phase_stereo_mono_or_silence(tmp_path: Path) -> None:
    sound = np.concatenate([_music(3), silence(2), tone(-20, 2)], axis=1)
    assert _audio_types(analyse(_clip(tmp_path, sound), tmp_path / "stereo")) == ["silence"]
    (tmp_path / "mono").mkdir()
    assert _audio_types(analyse(_clip(tmp_path / "mono", _music(3)[:1]), tmp_path / "mono-out")) == []
