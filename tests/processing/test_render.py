from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.processing.conftest import analyse, write_deblocked
from tests.support.videogen import Segment as S
from tests.support.videogen import Truth, segment_frames, write_frames


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


def test_the_analysis_is_the_same_with_or_without_render(tmp_path: Path) -> None:
    """A report does not depend on whether the video was also rendered (docs/api.md): on a clip
    whose pictures H.264's deblocking filter changes, every measured part of the report and the
    per-frame measures come out the same to the byte."""
    source = tmp_path / "blocky.mp4"
    segments = [S("scene", 30, 1), S("black", 15), S("scene", 30, 2), S("frozen", 20), S("dissolve", 20, 3),
                S("blur", 30, 5), S("scene", 20, 7), S("bigbox", 31), S("scene", 20, 6)]
    write_deblocked(source, segments)
    plain = analyse(source, tmp_path / "plain")
    rendered = analyse(source, tmp_path / "rendered", render=True)
    assert (tmp_path / "rendered" / "annotated.mp4").exists()
    for part in ("analysed", "cuts", "scenes", "motion", "quality", "audio"):
        assert plain[part] == rendered[part], part
    assert plain["motion"]["segments"]  # the boxes of a moving thing are in both
    csv = "frames.csv"
    assert (tmp_path / "plain" / csv).read_bytes() == (tmp_path / "rendered" / csv).read_bytes()


def test_no_render_no_video(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    analyse(std_clip[0], tmp_path)
    assert not (tmp_path / "annotated.mp4").exists()


def _annotated_size(path: Path) -> tuple[int, int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.width, stream.codec_context.height, frames


@pytest.mark.parametrize(
    ("size", "rotation", "expected"),
    [
        ((640, 360), 0, (640, 360)),  # full size, not the 320 px analysis width
        ((640, 360), 90, (360, 640)),  # upright, as a phone video plays
        ((2560, 1440), 0, (1920, 1080)),  # at most 1920 on the longer side
    ],
)
def test_annotated_video_at_display_size(
    size: tuple[int, int], rotation: int, expected: tuple[int, int], tmp_path: Path
) -> None:
    source = tmp_path / "in.mp4"
    frames = segment_frames([S("scene", 6, 1), S("scene", 6, 2)], size)
    count = write_frames(source, frames, size=size, rotation=rotation)
    report = analyse(source, tmp_path / "out", render=True)
    assert _annotated_size(tmp_path / "out" / "annotated.mp4") == (*expected, count)
    # Thumbnails: the display size halved while at least 480 px wide, or the display size.
    display_width = size[1] if rotation in (90, 270) else size[0]
    for scene in report["scenes"]:
        image = cv2.imread(str(tmp_path / "out" / scene["thumbnail"]))
        assert image is not None
        assert image.shape[1] == display_width or 480 <= image.shape[1] < 960


def test_labels_and_boxes_drawn_on_the_full_frame(tmp_path: Path) -> None:
    source = tmp_path / "box.mp4"
    write_frames(source, segment_frames([S("box", 30)], (640, 480)), size=(640, 480))
    analyse(source, tmp_path / "out", render=True)
    with av.open(str(tmp_path / "out" / "annotated.mp4")) as container:
        pictures = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    last = pictures[20]
    # The scene label, white on the dark ground, in the top-left corner.
    assert (last[:60, :200].min(axis=2) > 200).sum() > 100
    # A green box outline around the moving square.
    r, g, b = (last[..., i].astype(int) for i in range(3))
    assert ((g > 150) & (r < 100) & (b < 100)).sum() > 200


def test_annotated_video_from_another_pixel_format(tmp_path: Path) -> None:
    source = tmp_path / "444.mp4"
    count = write_frames(source, segment_frames([S("scene", 8, 1)], (320, 180)), size=(320, 180), pix_fmt="yuv444p")
    analyse(source, tmp_path / "out", render=True)
    assert _annotated_size(tmp_path / "out" / "annotated.mp4") == (320, 180, count)


def _centre_levels(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(np.median(f.to_ndarray(format="gray")[104:136, 144:176])) for f in container.decode(video=0)]


def test_every_annotated_frame_shows_its_own_picture(tmp_path: Path) -> None:
    """The full-size frames are used again once encoded: none may be drawn into before then."""
    size = (320, 240)
    ground = next(segment_frames([S("scene", 1, 1)], size))
    frames = []
    for i in range(75):
        frame = ground.copy()
        frame[88:152, 128:192] = 20 + 3 * i  # a square whose grey level names the frame
        frames.append(frame)
    source = tmp_path / "levels.mp4"
    write_frames(source, frames, size=size)
    analyse(source, tmp_path / "out", render=True)
    expected = _centre_levels(source)
    found = _centre_levels(tmp_path / "out" / "annotated.mp4")
    assert len(found) == len(expected) == 75
    assert max(abs(a - b) for a, b in zip(found, expected, strict=True)) <= 4, (found, expected)
