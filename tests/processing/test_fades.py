"""The fade detector alone (processing/analyzers/transitions/fades.py): fades, and the cuts at
the edges of blank spans."""

from __future__ import annotations

import pytest

from tests.processing.conftest import BLACK_THEN_SLOW_FADE_IN, make_clip
from tests.support.detecting import fades, near
from tests.support.videogen import Segment as S

# (frame, kind, (first, last) of a fade's span): a fade's frames within FADE_TOLERANCE (frames
# near black read as black), a hard cut's exact.
CASES: dict[str, tuple[list[S], list[tuple[int, str, tuple[int, int] | None]]]] = {
    "fade out, black, fade in": (
        [S("still", 20, 1), S("fadeout", 25, 1), S("black", 10), S("fadein", 25, 2), S("still", 20, 2)],
        [(55, "fade", (20, 79))],
    ),
    "dip to black": (
        [S("still", 20, 1), S("fadeout", 10, 1), S("fadein", 10, 2), S("still", 20, 2)],
        [(30, "fade", (20, 39))],
    ),
    # A blank scene (at least black_min_s) entered and left by hard cuts: two cuts.
    "hard cuts to and from black": (
        [S("scene", 25, 1), S("black", 12), S("scene", 25, 2)],
        [(25, "hard", None), (37, "hard", None)],
    ),
    # A shorter blank: one cut where it ends, if the pictures either side differ.
    "short black between two pictures": ([S("still", 20, 1), S("black", 3), S("still", 20, 2)], [(23, "hard", None)]),
    "short black in one picture": ([S("still", 20, 1), S("black", 3), S("still", 20, 1)], []),
    "cut to white": ([S("box", 20), S("flash", 2), S("frozen", 20)], [(20, "hard", None)]),
    "black then white": (
        [S("still", 20, 1), S("black", 10), S("flash", 10), S("still", 20, 2)],
        [(20, "hard", None), (30, "hard", None), (40, "hard", None)],
    ),
    "opening fade-in and closing fade-out": (
        [S("fadein", 20, 1), S("still", 20, 1), S("fadeout", 20, 1), S("black", 10)],
        [],
    ),
    # Cuts between pictures are the hard-cut detector's, dissolves the dissolve detector's.
    "hard cuts": ([S("scene", 30, 1), S("scene", 20, 2)], []),
    "cross-dissolve": ([S("still", 20, 1), S("dissolve", 15, 1), S("still", 20, 2)], []),
}
FADE_TOLERANCE = 3


@pytest.mark.parametrize("name", list(CASES))
def test_fades_and_blank_edges(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    segments, expected = CASES[name]
    cuts = fades(make_clip(tmp_path_factory, "fades-" + name.replace(" ", "-").replace(",", ""), segments))
    assert [c.kind for c in cuts] == [kind for _, kind, _ in expected], cuts
    for cut, (frame, _, span) in zip(cuts, expected, strict=True):
        if span is None:
            assert (cut.frame, cut.span) == (frame, None), cuts
        else:
            assert near(cut, frame, span, FADE_TOLERANCE), cuts


def test_a_fade_in_out_of_a_black_scene_holds_back_until_it_ends(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Too dark `lookahead` frames after the black, the fade-in is judged when it ends: until
    then the detector says a cut may still come at its first frame."""
    pending: list[int | None] = []
    path = make_clip(tmp_path_factory, "fades-black-then-slow-fade-in", BLACK_THEN_SLOW_FADE_IN)
    hard, fade = fades(path, pending)
    assert (hard.frame, hard.kind, fade.kind) == (20, "hard", "fade")
    assert fade.span is not None and fade.span[0] == fade.frame and abs(fade.span[1] - 94) <= FADE_TOLERANCE
    held = [frame for frame, first in enumerate(pending) if first is not None]
    assert {pending[frame] for frame in held} == {fade.frame}
    # From when the edge out of the black is decided (5 frames on, at 25 fps) to the fade's end.
    assert held == list(range(fade.frame + 5, held[-1] + 1))
    assert fade.span[1] <= held[-1] < len(pending) - 1
