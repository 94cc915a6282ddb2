from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.processing.conftest import write_deblocked
from tests.support.videogen import Segment, Truth, write_frames
from vidpulse.processing.decode import Decoder, Span, analysis_size


def _marked(width: int, height: int) -> np.ndarray:
    """Dark frame with a white band along its top edge."""
    frame = np.full((height, width, 3), 30, np.uint8)
    frame[: height // 8] = 255
    return frame


@pytest.mark.parametrize(("ccw", "bright_side"), [(0, "top"), (90, "left"), (-90, "right"), (180, "bottom")])
def test_frames_are_turned_upright(tmp_path: Path, ccw: int, bright_side: str) -> None:
    path = tmp_path / "rotated.mp4"
    write_frames(path, [_marked(320, 240)] * 2, rotation=ccw)
    with Decoder(path, 160, colour_every=1) as decoder:
        frame = next(decoder.frames())
    luma = frame.luma
    assert luma.shape == ((120, 160) if ccw in (0, 180) else (214, 160))
    assert frame.colour is not None and frame.colour.shape[:2] == luma.shape
    edges = {
        "top": luma[:4].mean(),
        "bottom": luma[-4:].mean(),
        "left": luma[:, :4].mean(),
        "right": luma[:, -4:].mean(),
    }
    assert max(edges, key=lambda k: edges[k]) == bright_side


def test_padded_rows_are_cropped(tmp_path: Path) -> None:
    # 200 px is not a multiple of FFmpeg's line alignment: each row carries padding.
    path = tmp_path / "odd.mp4"
    frame = np.zeros((150, 200, 3), np.uint8)
    frame[:, 100:] = 255
    write_frames(path, [frame] * 2, size=(200, 150))
    with Decoder(path, 200) as decoder:
        luma = next(decoder.frames()).luma
    assert luma.shape == (150, 200)
    assert luma[:, :95].max() < 40 and luma[:, 105:].min() > 200


def test_times_come_from_timestamps(std_clip: tuple[Path, Truth]) -> None:
    with Decoder(std_clip[0], 64) as decoder:
        frames = list(decoder.frames())
    assert [f.index for f in frames] == list(range(std_clip[1].frames))
    assert frames[10].time_s == pytest.approx(0.4)


def test_span_limits(std_clip: tuple[Path, Truth]) -> None:
    with Decoder(std_clip[0], 64, span=Span(start_s=2.0, end_s=3.0)) as decoder:
        frames = list(decoder.frames())
    assert frames[0].index == 50 and frames[0].time_s == pytest.approx(2.0)
    assert len(frames) == 25
    with Decoder(std_clip[0], 64, span=Span(max_frames=7)) as decoder:
        assert len(list(decoder.frames())) == 7


def test_analysis_size_keeps_aspect_and_never_upscales() -> None:
    assert analysis_size((1920, 1080), 320) == (320, 180)
    assert analysis_size((3840, 2160), 320) == (320, 180)
    assert analysis_size((160, 120), 320) == (160, 120)
    assert analysis_size((1080, 1920), 320) == (320, 568)


def test_variable_frame_rate_keeps_real_times(tmp_path: Path) -> None:
    path = tmp_path / "vfr.mkv"
    times_ms = [0, 40, 80, 200, 240, 500, 540, 1000]
    base = Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = base
        for i, ms in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 30 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = ms, base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with Decoder(path, 64) as decoder:
        frames = list(decoder.frames())
    assert [round(f.time_s, 3) for f in frames] == [ms / 1000 for ms in times_ms]
    assert [f.index for f in frames] == list(range(len(times_ms)))


def _blocky_clip(path: Path) -> int:
    return write_deblocked(path, [Segment("scene", 30, seed=1), Segment("scene", 30, seed=2)])


def test_the_analysis_pictures_do_not_depend_on_the_full_pictures(tmp_path: Path) -> None:
    """One decode whatever is made of it: the luma measured is the same, to the bit, whether or
    not the full-size pictures for the annotated video are taken from the same frames."""
    path = tmp_path / "blocky.mp4"
    count = _blocky_clip(path)
    with Decoder(path, 160, colour_every=1) as plain, Decoder(path, 160, colour_every=1, full_longest=1920) as full:
        pairs = list(zip(plain.frames(), full.frames(), strict=True))
    assert len(pairs) == count
    for a, b in pairs:
        assert np.array_equal(a.luma, b.luma) and a.colour is not None and b.colour is not None
        assert np.array_equal(a.colour, b.colour)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_shown_pictures_skip_deblocking_only_where_nothing_drifts(tmp_path: Path) -> None:
    """The full-size pictures (for the annotated video) skip the deblocking filter only on frames
    no other frame is predicted from: the reference frames stay exact, so no error spreads, and
    the others stay close to the exact decode even at a low quality."""
    path = tmp_path / "blocky.mp4"
    count = _blocky_clip(path)
    with av.open(str(path)) as container:
        exact = [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]
    with Decoder(path, 160, full_longest=1920) as decoder:
        shown = [f.full.to_ndarray(format="yuv420p") for f in decoder.frames() if f.full is not None]
    assert len(shown) == len(exact) == count
    psnr = [_psnr(a, b) for a, b in zip(shown, exact, strict=True)]
    unchanged = sum(p == float("inf") for p in psnr)
    assert count // 4 <= unchanged < count, psnr  # the references are exact; the filter was skipped
    assert min(psnr) > 40, psnr
