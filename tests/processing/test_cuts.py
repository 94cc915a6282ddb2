from __future__ import annotations

from pathlib import Path

import pytest

from tests.processing.conftest import BLACK_THEN_SLOW_FADE_IN, analyse, cut_frames, make_clip
from tests.support.detecting import measured_frames
from tests.support.videogen import Segment as S
from tests.support.videogen import Truth
from vidpulse.processing import AnalysisOptions
from vidpulse.processing.analyzers.cuts import CutAnalyzer

# Scenes stay at most 32 frames: the generator's drifting texture jumps back after that.
CASES: dict[str, tuple[list[S], list[tuple[int, str]]]] = {
    "hard cuts": (
        [S("scene", 30, 1), S("scene", 20, 2), S("frozen", 10), S("scene", 30, 3)],
        [(30, "hard"), (60, "hard")],
    ),
    "hard cuts to and from black": (
        [S("scene", 25, 1), S("black", 12), S("scene", 25, 2)],
        [(25, "hard"), (37, "hard")],
    ),
    # One transition: the cut where the new picture comes out of the black.
    "fade out, black, fade in": (
        [S("still", 20, 1), S("fadeout", 25, 1), S("black", 10), S("fadein", 25, 2), S("still", 20, 2)],
        [(55, "fade")],
    ),
    "opening fade-in and closing fade-out": (
        [S("fadein", 20, 1), S("still", 20, 1), S("fadeout", 20, 1), S("black", 10)],
        [],
    ),
    "cut to black, then a slow fade-in": (BLACK_THEN_SLOW_FADE_IN, [(20, "hard"), (52, "fade")]),
    "dip to black": ([S("still", 20, 1), S("fadeout", 10, 1), S("fadein", 10, 2), S("still", 20, 2)], [(30, "fade")]),
    "cross-dissolve": ([S("still", 20, 1), S("dissolve", 15, 1), S("still", 20, 2)], [(27, "dissolve")]),
    "long dissolve": ([S("still", 20, 1), S("dissolve", 40, 1), S("still", 20, 2)], [(40, "dissolve")]),
    "short dissolve": ([S("still", 20, 1), S("dissolve", 6, 1), S("still", 20, 2)], [(23, "dissolve")]),
    "moving box": ([S("box", 40)], []),
    "large fast object": ([S("bigbox", 8), S("still", 10, 4)], [(8, "hard")]),
    "fast pan": ([S("pan", 40, 3)], []),
    "single-frame flash": ([S("still", 20, 1), S("flash", 1), S("still", 20, 1)], []),
    "two-frame flash": ([S("still", 20, 1), S("flash", 2), S("still", 20, 1)], []),
    "cut to white": ([S("box", 20), S("flash", 2), S("frozen", 20)], [(20, "hard")]),
    "blurred drift": ([S("blur", 30, 1)], []),
}
# Fades and dissolves have no single exact frame: near-black frames read as black.
TOLERANCE = {"hard": 1, "fade": 3, "dissolve": 3}


@pytest.mark.parametrize("name", list(CASES))
def test_cuts(name: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    segments, expected = CASES[name]
    report = analyse(make_clip(tmp_path_factory, name.replace(" ", "-"), segments), tmp_path)
    found = [(c["frame"], c["kind"]) for c in report["cuts"]]
    assert len(found) == len(expected), found
    for (frame, kind), (want_frame, want_kind) in zip(found, expected, strict=True):
        assert kind == want_kind, found
        assert abs(frame - want_frame) <= TOLERANCE[kind], found


def test_cuts_have_times_and_scores(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    report = analyse(make_clip(tmp_path_factory, "scored", [S("scene", 25, 1), S("scene", 25, 2)]), tmp_path)
    (cut,) = report["cuts"]
    assert cut["frame"] == 25 and cut["time_s"] == pytest.approx(1.0)
    assert cut["score"] > 20
    assert 0.5 <= cut["confidence"] <= 1
    assert "start_frame" not in cut  # a hard cut has no span


def test_gradual_transitions_have_spans(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    segments = [S("still", 20, 1), S("dissolve", 15, 1), S("still", 20, 2)]
    (cut,) = analyse(make_clip(tmp_path_factory, "span", segments), tmp_path)["cuts"]
    assert cut["start_frame"] <= cut["frame"] <= cut["end_frame"]
    assert abs(cut["start_frame"] - 20) <= 2 and abs(cut["end_frame"] - 34) <= 2
    assert cut["start_s"] == pytest.approx(cut["start_frame"] / 25) and cut["end_s"] == pytest.approx(
        cut["end_frame"] / 25
    )
    assert 0 < cut["confidence"] <= 1


def test_higher_threshold_finds_fewer_cuts(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    path = make_clip(tmp_path_factory, "thresh", [S("scene", 25, 1), S("scene", 25, 2)])
    assert cut_frames(analyse(path, tmp_path / "a")) == [25]
    assert cut_frames(analyse(path, tmp_path / "b", cut_threshold=250.0)) == []


def test_a_fade_in_out_of_a_black_scene_spans_the_fade(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    report = analyse(make_clip(tmp_path_factory, "black-then-fade-in", BLACK_THEN_SLOW_FADE_IN), tmp_path)
    hard, fade = report["cuts"]
    assert (hard["frame"], hard["kind"]) == (20, "hard")
    # From the first frame out of the black to the last of the fade (frame 94).
    assert fade["kind"] == "fade" and fade["start_frame"] == fade["frame"]
    assert abs(fade["end_frame"] - 94) <= 3, fade


# Every kind of transition, and a dissolve out of a fade-in's picture (held until the light settles).
MIXED = [
    S("scene", 30, 1),
    S("fadeout", 12, 1),
    S("black", 3),
    S("fadein", 12, 2),
    S("still", 20, 2),
    S("dissolve", 20, 2),
    S("still", 15, 3),
    S("scene", 25, 4),
    S("black", 30),
    S("scene", 20, 5),
    S("flash", 2),
    S("frozen", 10),
    S("fadeout", 8, 5),
    S("fadein", 8, 6),
    S("still", 20, 6),
]


@pytest.mark.parametrize("clip", ["standard", "black then slow fade-in", "mixed"])
def test_cuts_up_to_decided_index_are_final(
    clip: str, std_clip: tuple[Path, Truth], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """What a consumer lagging behind `decided_index` sees never changes (but for the end of a
    fade's span, which lies after its cut), even where `decided_index` steps back."""
    if clip == "standard":
        path = std_clip[0]
    else:
        path = make_clip(tmp_path_factory, clip.replace(" ", "-"), BLACK_THEN_SLOW_FADE_IN if "slow" in clip else MIXED)
    options = AnalysisOptions()
    frames, fps = measured_frames(path, options)
    analyzer = CutAnalyzer(
        fps,
        threshold=options.cut_threshold,
        ratio=options.cut_ratio,
        fade_threshold=options.fade_threshold,
        black_min_s=options.black_min_s,
    )

    def settled(decided: int) -> list[tuple[int, str, float, int | None]]:
        return [(c.frame, c.kind, c.confidence, c.span and c.span[0]) for c in analyzer.cuts if c.frame <= decided]

    seen: list[tuple[int, list[tuple[int, str, float, int | None]]]] = []
    for measured in frames:
        analyzer.update(measured)
        decided = analyzer.decided_index
        assert decided < measured.frame.index
        seen.append((decided, settled(decided)))
    analyzer.finish()
    assert analyzer.decided_index == frames[-1].frame.index
    assert len(analyzer.cuts) >= 2 and any(decided < 0 for decided, _ in seen)
    for decided, cuts in seen:
        assert settled(decided) == cuts, decided
