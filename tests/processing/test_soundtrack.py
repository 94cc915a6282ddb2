"""annotated.mp4 carries the source's sound: copied when it is AAC (or MP3), else encoded to AAC,
in step with the pictures, over the analysed span only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.processing.conftest import analyse
from tests.support.videogen import Segment, segment_frames, silence, tone, write_frames, write_video_with_audio

FPS = 25
SIZE = (160, 120)
# Silence, 1 s of tone from 2 s on, silence again: where the tone lands shows the sync.
TONE_AT_S = 2.0


def _clip(path: Path, codec: str) -> Path:
    sound = np.concatenate([silence(TONE_AT_S), tone(-20, 1.0), silence(1.0)], axis=1)
    write_video_with_audio(path, [Segment("scene", 50, 1), Segment("scene", 50, 2)], sound, size=SIZE, codec=codec)
    return path


def _annotated(source: Path, out: Path, **options: Any) -> tuple[float, str, np.ndarray, int]:
    """The annotated video's length in seconds, its sound's codec, the sound's first channel and rate."""
    analyse(source, out, render=True, **options)
    with av.open(str(out / "annotated.mp4")) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(out / "annotated.mp4")) as container:
        stream = container.streams.audio[0]
        codec, rate = stream.codec_context.name, stream.codec_context.sample_rate
        samples = np.concatenate([f.to_ndarray()[0] for f in container.decode(stream)])
    return frames / FPS, codec, samples, rate


def _tone_starts_s(samples: np.ndarray, rate: int) -> float:
    return float(np.flatnonzero(np.abs(samples) > 0.05)[0] / rate)


@pytest.mark.parametrize(("name", "codec"), [("aac.mp4", "aac"), ("pcm.mkv", "pcm_s16le")])
@pytest.mark.parametrize("start_s", [0.0, 1.0])
def test_the_annotated_video_has_the_sound_of_its_frames(tmp_path: Path, name: str, codec: str, start_s: float) -> None:
    source = _clip(tmp_path / name, codec)
    seconds, codec_out, samples, rate = _annotated(source, tmp_path / "out", start_s=start_s)
    assert seconds == pytest.approx(4.0 - start_s)
    assert codec_out == "aac"
    assert len(samples) / rate == pytest.approx(seconds, abs=0.05)
    # In step with the pictures: the tone where it was, counted from the first frame shown.
    assert _tone_starts_s(samples, rate) == pytest.approx(TONE_AT_S - start_s, abs=0.01)


def test_the_sound_stops_with_the_last_frame(tmp_path: Path) -> None:
    source = _clip(tmp_path / "aac.mp4", "aac")
    seconds, _, samples, rate = _annotated(source, tmp_path / "out", max_frames=30)
    assert seconds == pytest.approx(1.2)
    assert len(samples) / rate == pytest.approx(1.2, abs=0.05)


def _packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def test_aac_is_copied_not_encoded_again(tmp_path: Path) -> None:
    source = _clip(tmp_path / "aac.mp4", "aac")
    analyse(source, tmp_path / "out", render=True)
    assert _packets(tmp_path / "out" / "annotated.mp4") == _packets(source)


def test_no_audio_stream_none_added(tmp_path: Path) -> None:
    source = tmp_path / "mute.mp4"
    write_frames(source, segment_frames([Segment("scene", 25, 1)], SIZE), size=SIZE)
    analyse(source, tmp_path / "out", render=True)
    with av.open(str(tmp_path / "out" / "annotated.mp4")) as container:
        assert not container.streams.audio and len(container.streams.video) == 1
