from __future__ import annotations

from pathlib import Path

import av

from tests.processing.conftest import analyse
from tests.videogen import Truth


def test_annotated_video_is_browser_h264_with_every_frame(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    path, truth = std_clip
    analyse(path, tmp_path, render=True)
    video = tmp_path / "annotated.mp4"
    head = video.read_bytes()[:64]
    assert head[4:8] == b"ftyp" and b"moov" in head  # faststart: the index comes first
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == truth.fps
        decoded = sum(1 for _ in container.decode(stream))
    assert decoded == truth.frames


def test_no_render_no_video(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    analyse(std_clip[0], tmp_path)
    assert not (tmp_path / "annotated.mp4").exists()
