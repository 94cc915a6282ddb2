"""The accuracy suite: clips with one known fade or dissolve each (tests/support/transitions.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processing.conftest import analyse
from tests.support.transitions import (
    DURATIONS_S,
    RAMP_FRAMES,
    SHAPES,
    make_known_clip,
    make_partial_fades_clip,
    make_ramps_clip,
    score,
)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("known")


@pytest.mark.parametrize("seconds", DURATIONS_S)
@pytest.mark.parametrize("shape", SHAPES)
def test_transition_found_once_with_its_span(shape: str, seconds: float, clip_folder: Path, tmp_path: Path) -> None:
    clip = make_known_clip(clip_folder, shape, seconds)
    cuts = analyse(clip.path, tmp_path)["cuts"]
    result = score(clip, cuts)
    summary = [(c["frame"], c["kind"], c.get("start_frame"), c.get("end_frame")) for c in cuts]
    assert result.found and result.kind_ok, (clip.transition, summary)
    assert result.span_error is not None and result.span_error <= result.span_tolerance, (clip.transition, summary)
    # The opening fade-in and the closing fade-out are no transitions; the hard cut is exact.
    assert result.hard_exact and result.false_cuts == 0, (clip.hard_cut, summary)
    assert all(0 <= c["confidence"] <= 1 for c in cuts)


def test_scorer_counts_a_transition_reported_twice_as_a_false_cut(clip_folder: Path) -> None:
    clip = make_known_clip(clip_folder, "fade-black", 0.5)
    t = clip.transition
    hard = {"frame": clip.hard_cut, "kind": "hard"}
    into = {"frame": t.start_frame + 5, "kind": "fade"}
    out = {"frame": t.end_frame - 5, "kind": "fade"}
    assert score(clip, [into, out, hard]).false_cuts == 1
    assert not score(clip, [into, hard]).ok  # no span
    whole = {**out, "start_frame": t.start_frame, "end_frame": t.end_frame}
    assert score(clip, [whole, hard]).ok


def test_a_video_that_opens_and_ends_mid_fade_has_only_its_hard_cut(clip_folder: Path, tmp_path: Path) -> None:
    clip = make_partial_fades_clip(clip_folder)
    cuts = analyse(clip.path, tmp_path)["cuts"]
    assert [(c["frame"], c["kind"]) for c in cuts] == [(clip.hard_cut, "hard")]


def test_a_picture_swinging_between_black_and_white_fades_through_black(clip_folder: Path, tmp_path: Path) -> None:
    """The white peaks are its pictures, faded in from and out to black: only the two black
    turning points between them are transitions, each once, spanning from peak to peak."""
    path, blacks = make_ramps_clip(clip_folder)
    cuts = analyse(path, tmp_path)["cuts"]
    summary = [(c["frame"], c["kind"], c["start_frame"], c["end_frame"]) for c in cuts]
    assert [c["kind"] for c in cuts] == ["fade", "fade"], summary
    for cut, black in zip(cuts, blacks, strict=True):
        # The cut where the picture comes out of the black; the span within the ramps either side.
        assert black <= cut["frame"] <= black + RAMP_FRAMES // 3, summary
        assert black - RAMP_FRAMES <= cut["start_frame"] < black < cut["end_frame"] <= black + RAMP_FRAMES, summary
