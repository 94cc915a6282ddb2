from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.processing.conftest import BLACK_THEN_SLOW_FADE_IN, analyse, cut_frames, make_clip
from tests.support.videogen import Segment as S
from tests.support.videogen import Truth, segment_frames, write_audio, write_frames
from vidpulse.processing import (
    AnalysisOptions,
    Cancelled,
    OptionsError,
    Progress,
    Scene,
    UndecodableVideo,
    analyze,
)


def test_standard_clip_end_to_end(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    path, truth = std_clip
    report = analyze(path, tmp_path)
    assert cut_frames(report) == truth.cuts
    assert report["video"]["frames"] == truth.frames
    assert len(report["scenes"]) == len(truth.cuts) + 1
    assert json.loads((tmp_path / "report.json").read_text()) == report
    for scene in report["scenes"]:
        assert (tmp_path / scene["thumbnail"]).stat().st_size > 0


def test_progress_is_overall_monotonic_and_ends_at_one(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    seen: list[Progress] = []
    analyze(std_clip[0], tmp_path, AnalysisOptions(render=True), on_progress=seen.append)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and all(0 <= f <= 1 for f in fractions)
    assert seen[-1].fraction == 1.0 and seen[-1].stage == "finalize"
    assert [p.fraction for p in seen].count(1.0) == 1
    stages = list(dict.fromkeys(p.stage for p in seen))
    assert stages == ["probe", "analyze", "render", "finalize"]
    assert [p.stage for p in seen].count("finalize") == 2  # when it starts, and the final 1.0
    analysing = [p for p in seen if p.stage == "analyze"]
    assert analysing[0].frame == 1 and analysing[-1].frame == std_clip[1].frames
    assert analysing[-1].total_frames == std_clip[1].frames and analysing[-1].fps > 0


@pytest.mark.parametrize("after", [0, 1, 40, 10_000])
def test_cancel_removes_every_file(std_clip: tuple[Path, Truth], tmp_path: Path, after: int) -> None:
    keep = tmp_path / "upload.mp4"
    keep.write_bytes(b"the caller's file")
    calls = 0

    def cancelled() -> bool:
        nonlocal calls
        calls += 1
        return calls > after

    if after >= 10_000:  # never cancelled during the loop: cancel in finalize instead
        frames = std_clip[1].frames
        after = frames + 2
    with pytest.raises(Cancelled) as caught:
        analyze(std_clip[0], tmp_path, AnalysisOptions(render=True), is_cancelled=cancelled)
    assert caught.value.code == "cancelled"
    assert [p.name for p in tmp_path.iterdir()] == ["upload.mp4"]
    assert not [t for t in threading.enumerate() if t.name == "vidpulse-encode"]  # the encoder stopped


def test_cancel_is_checked_on_every_frame(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    calls = 0

    def count() -> bool:
        nonlocal calls
        calls += 1
        return False

    analyze(std_clip[0], tmp_path, is_cancelled=count)
    assert calls >= std_clip[1].frames


@pytest.mark.parametrize("kind", ["empty", "audio", "text"])
def test_undecodable_leaves_nothing(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "in" / "x.mp4"
    path.parent.mkdir()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "audio":
        write_audio(path)
    else:
        path.write_text("hello")
    out = tmp_path / "out"
    with pytest.raises(UndecodableVideo):
        analyze(path, out)
    assert not out.exists() or not list(out.iterdir())


def test_truncated_stream_analyses_what_decodes(tmp_path: Path, std_clip: tuple[Path, Truth]) -> None:
    # MPEG-TS needs no index, so the first part of a cut-off file still decodes.
    whole = tmp_path / "whole.ts"
    frames = [np.full((240, 320, 3), 20 * (i // 10), np.uint8) for i in range(60)]
    write_frames(whole, frames)
    data = whole.read_bytes()
    part = tmp_path / "part.ts"
    part.write_bytes(data[: len(data) // 2])
    report = analyze(part, tmp_path / "out")
    assert 5 < report["analysed"]["frames"] < 60
    header_only = tmp_path / "header.ts"
    header_only.write_bytes(data[:600])
    with pytest.raises(UndecodableVideo):
        analyze(header_only, tmp_path / "out2")


def test_span_options(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    report = analyse(std_clip[0], tmp_path / "a", start_s=1.2, end_s=3.6)
    assert report["analysed"]["start_frame"] == 30 and report["analysed"]["frames"] == 60
    assert cut_frames(report) == [37, 87]
    assert report["scenes"][0]["start_frame"] == 30
    report = analyse(std_clip[0], tmp_path / "b", max_frames=30)
    assert report["analysed"]["frames"] == 30 and cut_frames(report) == [25]
    assert report["video"]["frames"] == std_clip[1].frames


def test_4k_input(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    # The generator's 16 px texture averages to flat grey at 320 px: use big shapes instead.
    path = make_clip(tmp_path_factory, "uhd", [S("bigbox", 4), S("black", 4)], size=(3840, 2160))
    report = analyse(path, tmp_path)
    assert report["video"]["width"] == 3840 and cut_frames(report) == [4]
    assert report["analysed"]["frames"] == 8


def test_start_past_the_end_names_the_option(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    with pytest.raises(OptionsError) as caught:
        analyse(std_clip[0], tmp_path, start_s=100.0)
    assert caught.value.field == "start_s"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt"),
    [
        ("mpeg4.avi", "mpeg4", "yuv420p"),
        ("palette.gif", "gif", "rgb8"),
        ("ten-bit.mkv", "libx264", "yuv420p10le"),
        ("full-range.mov", "libx264", "yuvj420p"),
        ("vp9.webm", "libvpx-vp9", "yuv420p"),
    ],
)
def test_other_codecs_and_pixel_formats(tmp_path: Path, name: str, codec: str, pix_fmt: str) -> None:
    path = tmp_path / name
    frames = segment_frames([S("scene", 20, 1), S("black", 6), S("scene", 20, 2)])
    write_frames(path, frames, codec=codec, pix_fmt=pix_fmt)
    report = analyze(path, tmp_path / "out")
    assert report["analysed"]["frames"] == 46
    assert cut_frames(report) == [20, 26]
    assert report["quality"]["brightness"]["min"] == pytest.approx(0.0, abs=0.02)
    assert report["quality"]["brightness"]["max"] == pytest.approx(0.5, abs=0.05)


def test_a_fade_in_judged_at_its_end_changes_no_scene_announced(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The fade-in out of a black scene is decided only when it ends: the scenes announced
    meanwhile are the final ones."""
    seen: list[dict[str, Any]] = []
    path = make_clip(tmp_path_factory, "black-then-slow-fade-in", BLACK_THEN_SLOW_FADE_IN)
    report = analyze(path, tmp_path, on_scene=lambda scene: seen.append(scene.to_dict()))
    assert [c["kind"] for c in report["cuts"]] == ["hard", "fade"]
    assert seen == report["scenes"]


def test_scenes_reported_as_they_close(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    stages: list[str] = []
    latest = ["probe"]

    def on_scene(scene: Scene) -> None:
        seen.append(scene.to_dict())
        stages.append(latest[0])
        # The thumbnail is on disk when the scene is announced.
        assert scene.thumbnail is not None and (tmp_path / scene.thumbnail).is_file()

    def on_progress(progress: Progress) -> None:
        latest[0] = progress.stage

    report = analyze(std_clip[0], tmp_path, on_progress=on_progress, on_scene=on_scene)
    assert seen == report["scenes"]
    assert len(seen) == len(std_clip[1].cuts) + 1
    # All but the last close while the frames are still being read.
    assert stages[:-1] == ["analyze"] * (len(seen) - 1)
