from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest

from tests.support.videogen import Segment, Truth, segment_frames, standard_clip, write_video
from vidpulse.processing import AnalysisOptions, analyze

# A cut to black held, then a fade-in too slow to be light `black_min_s` after the black (the cut
# at frame 20, the fade-in out of the black at about 52, ending at 94).
BLACK_THEN_SLOW_FADE_IN = [Segment("still", 20, 1), Segment("black", 25), Segment("fadein", 50, 2),
                           Segment("still", 20, 2)]


@pytest.fixture(scope="session")
def std_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    path = tmp_path_factory.mktemp("clips") / "standard.mp4"
    return path, standard_clip(path)


def make_clip(tmp_path_factory: pytest.TempPathFactory, name: str, segments: list[Segment], **kw: Any) -> Path:
    path = tmp_path_factory.mktemp("clips") / f"{name}.mp4"
    write_video(path, segments, **kw)
    return path


def write_deblocked(path: Path, segments: list[Segment], size: tuple[int, int] = (640, 360)) -> int:
    """A clip that H.264's deblocking filter visibly changes: a preset that keeps the filter on
    (ultrafast, which videogen uses, turns it off) at a low quality, with B-frames. Returns the
    number of frames."""
    count = 0
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "38"}
        for rgb in segment_frames(segments, size):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            count += 1
        container.mux(stream.encode())
    return count


def analyse(path: Path, out: Path, **options: Any) -> dict[str, Any]:
    return analyze(path, out, AnalysisOptions(**options))


def cut_frames(report: dict[str, Any]) -> list[int]:
    return [c["frame"] for c in report["cuts"]]


def frames_of(report: dict[str, Any], key: str) -> list[tuple[int, int]]:
    """A quality segment list as [start, end) frame numbers (the clips are 25 fps)."""
    fps = report["video"]["fps"]
    return [(round(s["start_s"] * fps), round(s["end_s"] * fps)) for s in report["quality"][key]]
