"""The dissolve detector alone (processing/analyzers/transitions/dissolves.py)."""

from __future__ import annotations

import pytest

from tests.processing.conftest import make_clip
from tests.support.detecting import dissolves, fades, known_clip, near
from tests.support.transitions import make_partial_fades_clip
from tests.support.videogen import Segment as S

# (middle frame, (first, last) of the span), within TOLERANCE frames: a dissolve's first and
# last frames hold only a few percent of the other picture.
CASES: dict[str, tuple[list[S], list[tuple[int, tuple[int, int]]]]] = {
    "cross-dissolve": ([S("still", 20, 1), S("dissolve", 15, 1), S("still", 20, 2)], [(27, (20, 34))]),
    "long dissolve": ([S("still", 20, 1), S("dissolve", 40, 1), S("still", 20, 2)], [(40, (20, 59))]),
    "short dissolve": ([S("still", 20, 1), S("dissolve", 6, 1), S("still", 20, 2)], [(23, (20, 25))]),
    "hard cuts": ([S("scene", 30, 1), S("scene", 20, 2), S("frozen", 10), S("scene", 30, 3)], []),
    "moving box": ([S("box", 40)], []),
    "fast pan": ([S("pan", 40, 3)], []),
    "blurred drift": ([S("blur", 30, 1)], []),
    "fade out, black, fade in": (
        [S("still", 20, 1), S("fadeout", 25, 1), S("black", 10), S("fadein", 25, 2), S("still", 20, 2)],
        [],
    ),
}
TOLERANCE = 4


@pytest.mark.parametrize("name", list(CASES))
def test_dissolves(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    segments, expected = CASES[name]
    cuts = dissolves(make_clip(tmp_path_factory, "dissolves-" + name.replace(" ", "-").replace(",", ""), segments))
    assert len(cuts) == len(expected) and all(c.kind == "dissolve" for c in cuts), cuts
    for cut, (frame, span) in zip(cuts, expected, strict=True):
        assert near(cut, frame, span, TOLERANCE), cuts
        assert cut.span is not None and cut.span[0] <= cut.frame <= cut.span[1], cuts
        assert 0 < cut.confidence <= 1


def test_the_pictures_of_an_open_fade_in_are_no_dissolve(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Out of a blank span with no gap, a long fade-in mixes black and a picture as a dissolve
    does: alone the detector takes it for one; told the fade-in is open, it does not."""
    clip = known_clip(tmp_path_factory, "fade-black-nogap", 2.0)
    (fade,) = fades(clip.path)
    (lookalike,) = dissolves(clip.path)
    assert fade.span is not None and fade.frame < lookalike.frame <= fade.span[1]
    assert dissolves(clip.path, fading_in_from=fade.frame) == []


def test_a_closing_fade_out_that_never_settles_is_no_dissolve(tmp_path_factory: pytest.TempPathFactory) -> None:
    clip = make_partial_fades_clip(tmp_path_factory.mktemp("partial"))
    assert dissolves(clip.path) == []
